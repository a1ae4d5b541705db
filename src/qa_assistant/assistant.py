"""The assistant: wires loading, the index, retrieval and answering together.

A question runs one pipeline, :attr:`Assistant.chain` (a LangChain runnable: retrieve → answer
→ a second look where the answerer abstains and takes one → the document in force):
:meth:`Assistant.ask` invokes it, :meth:`Assistant.ask_stream` streams it, and a LangChain
user can batch it or run it async. :meth:`Assistant.as_retriever` gives its retrieval to a
chain of one's own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack, cast

from ._answering.factory import make_answerer
from ._chunking.chunker import chunk_token_budget
from ._loading import discover
from ._models.build import tuned_weights_of
from ._models.embedding import make_embedder
from ._models.relevance import make_relevance_model
from ._models.span import make_span_model
from ._pipeline.asking import EMPTY_QUESTION_MESSAGE, HELP_MESSAGE, MAX_QUESTION_CHARS
from ._retrieval.retriever import Retriever
from ._store.follow import sync_lexical
from ._store.index import ChromaIndex
from ._store.ingest import Progress, file_hash, ingest, manifest_for
from ._store.lease import IngestLock, make_ingest_lock
from ._store.lexical import LexicalIndex
from .errors import IndexStoreError
from .protocols import Answerer, Embedder, RelevanceModel
from .settings import Settings
from .types import Answer, DocumentInfo, Filters, IngestReport, Question

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

    from ._pipeline.chain import Pipeline
    from ._retrieval.hybrid_retriever import HybridRetriever

__all__ = [
    "EMPTY_QUESTION_MESSAGE",
    "HELP_MESSAGE",
    "MAX_QUESTION_CHARS",
    "AskOptions",
    "Assistant",
]


class AskOptions(TypedDict, total=False):
    """How :meth:`Assistant.ask` answers: the fields of :class:`~qa_assistant.types.Question`
    after its text, each left out taking its setting."""

    k: int | None
    retriever: str | None
    filters: Filters | None
    history: Sequence[str]


class Assistant:
    """One per process: the embedding model and the indexes are loaded once and shared.

    Thread-safe for concurrent :meth:`ask` calls; :meth:`ingest` swaps the lexical index in
    atomically when it finishes, so questions asked during an ingest keep being answered.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        answerer: Answerer | None = None,
        relevance_model: RelevanceModel | None = None,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._relevance_model = relevance_model
        # The span model, loaded at its first use (None when off or another answerer is
        # given): made here so that warm_up can load it.
        self.span_model = make_span_model(settings) if answerer is None else None
        self.answerer = answerer or make_answerer(settings, self.span_model)
        self.index = ChromaIndex(
            settings.index_dir, collection=settings.collection, chroma_url=settings.chroma_url
        )
        self._retriever: Retriever | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._sync = threading.Lock()  # one catch-up with the store at a time
        self._pipeline: Pipeline | None = None

    # -- lazily built parts -----------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                # The word segmenter takes seconds to import; the model loads in native code
                # that lets other threads run, so the two overlap. The first question then
                # waits for neither alone.
                threading.Thread(target=_load_word_segmenter, daemon=True).start()
                self._embedder = make_embedder(
                    self.settings.model,
                    self.settings.cache_dir,
                    self.settings.device,
                    precision=self.settings.precision,
                    tuned=tuned_weights_of(self.settings),
                    threads=self.settings.serving.onnx_threads,
                )
            return self._embedder

    @property
    def relevance_model(self) -> RelevanceModel | None:
        """The relevance model, or None on the fast path (``QA_RELEVANCE__ENABLED=false``)."""
        with self._lock:
            if self._relevance_model is None and self.settings.relevance.enabled:
                self._relevance_model = make_relevance_model(self.settings)
            return self._relevance_model

    @property
    def relevance_threshold(self) -> float | None:
        """The relevance model's abstention threshold, None on the fast path."""
        from ._models.relevance import relevance_threshold

        return relevance_threshold(self.settings) if self.settings.relevance.enabled else None

    @property
    def lexical_dir(self) -> Path:
        # In server mode each process keeps its own lexical cache, keyed by the collection.
        return self.settings.index_dir / "lexical" / self.settings.collection

    def retriever(self) -> Retriever:
        """The retriever over the store as it is now.

        Another process (a replica, an ingest) may commit to the store at any time. At most
        every ``QA_REPLICAS__CHECK_S`` this reads the store's version (one small record); when
        it moved, the lexical index takes in the changed documents only.
        """
        current = self._retriever
        now = time.monotonic()
        if current is not None and now - self._checked_at < self.settings.replicas.check_s:
            return current
        self._checked_at = now
        if current is not None and self.index.version() == current.lexical.version:
            return current
        with self._sync:
            latest = self._retriever
            if latest is not None and latest is not current:
                return latest  # another question caught up meanwhile
            return self._follow()

    def _follow(self, *, save: bool = False) -> Retriever:
        current = self._retriever
        lexical = sync_lexical(
            self.index,
            self.lexical_dir,
            current.lexical if current is not None else None,
            merge_share=self.settings.replicas.lexical_merge_share,
            save=save,
        )
        if current is not None and lexical is current.lexical:
            return current
        if self.index.manifest() is not None:
            self.index.check_manifest(manifest_for(self.embedder))
        return self._use(lexical)

    def ingest_lock(self) -> IngestLock:
        """The store's ingest lock: a file lock, or the lease kept in a shared server."""
        return make_ingest_lock(self.index, self.settings.replicas)

    def _use(self, lexical: LexicalIndex) -> Retriever:
        retriever = Retriever(
            self.index,
            lexical,
            self.embedder,
            candidates=self.settings.candidates,
            retrieval=self.settings.retrieval,
            scoring=self.settings.scoring,
            relevance_model=self.relevance_model,
            relevance=self.settings.relevance,
        )
        self._retriever = retriever  # one assignment: concurrent questions see old or new
        self._checked_at = time.monotonic()
        return retriever

    def warm_up(self) -> None:
        """Load the model, the indexes and the Vietnamese tools now, not on the first question."""
        from ._vietnamese import restore_diacritics, word_tokens

        self.embedder.embed_query("khởi động")
        if self.relevance_model is not None:
            self.relevance_model.score("khởi động", ["khởi động"])
        if self.span_model is not None:
            self.span_model.read("khởi động", ["khởi động"])
        restore_diacritics("khoi dong")
        word_tokens("khởi động")
        if self.index.count():
            # One whole question: what only a question reaches would otherwise load while the
            # first citizens a fresh replica serves wait.
            self.ask("khởi động")

    def answerer_problem(self) -> str | None:
        """What keeps the LLM answerer's server from answering with the model named (for the
        operator, before the first visitor waits), or None: nothing, or no server to ask."""
        from ._answering.llm import LLMAnswerer

        return self.answerer.check() if isinstance(self.answerer, LLMAnswerer) else None

    # -- ingest -----------------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[Path] | None = None,
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        # Loaded before the lock is taken: loading the segmenter's model holds the interpreter
        # for seconds at a time, which would starve the thread that renews a server lease.
        _load_word_segmenter()
        report = ingest(
            self.index,
            self.embedder,
            list(paths) if paths else [self.settings.documents_dir],
            lock=self.ingest_lock(),
            max_tokens=chunk_token_budget(self.settings.max_chunk_tokens, self.embedder.max_tokens),
            rebuild=rebuild,
            progress=progress,
            limits=self.settings.ingest,
        )
        with self._sync:
            self._follow(save=True)
        return report

    def answers_as_is(self) -> bool:
        """Whether questions can be answered from the store as it stands, before an ingest: it
        holds chunks, embedded (all of them) as this process embeds questions."""
        found = self.index.manifest()
        return found is not None and found == manifest_for(self.embedder) and self.index.count() > 0

    def is_stale(self, folder: Path | None = None) -> bool:
        """True when the folder holds files the index lacks or has in another version."""
        folder = folder or self.settings.documents_dir
        committed = {d.source: d.content_hash for d in self.index.documents()}
        found = dict(discover([folder])) if folder.exists() else {}
        if set(found.values()) != set(committed):
            return True
        return any(committed[source] != file_hash(path) for path, source in found.items())

    # -- questions --------------------------------------------------------------------------

    @property
    def chain(self) -> Runnable[Question, Answer]:
        """The question pipeline as a LangChain runnable: a :class:`~qa_assistant.types.Question`
        in, its :class:`Answer` out (``invoke``, ``batch`` and their async forms). ``stream``
        yields a streaming answerer's text in pieces (``str``) first, then the answer."""
        pipeline = self._pipeline
        if pipeline is None:
            # Built at the first question: LangChain takes a second to import, which ingesting
            # or listing documents need not wait for.
            from ._pipeline.chain import Pipeline

            with self._lock:
                if self._pipeline is None:
                    self._pipeline = Pipeline(
                        self.settings,
                        self.answerer,
                        self.retriever,
                        self.documents,
                        str(self.index.location),
                    )
                pipeline = self._pipeline
        return pipeline.chain

    def as_retriever(
        self, *, k: int | None = None, retriever: str | None = None, filters: Filters | None = None
    ) -> HybridRetriever:
        """The assistant's retrieval as a LangChain ``BaseRetriever``, for a chain of one's own:
        a question in, its ``k`` best passages out as LangChain documents (each one's metadata:
        the passage's source, title, heading, place and scores), from the store as it is at
        each question."""
        from ._retrieval.hybrid_retriever import HybridRetriever

        return HybridRetriever(
            store=self.retriever,
            k=k or self.settings.k,
            mode=retriever or self.settings.retriever,
            filters=filters,
        )

    def ask(self, question: str, **options: Unpack[AskOptions]) -> Answer:
        """The answer to ``question``: :attr:`chain` invoked."""
        return self.chain.invoke(Question(question, **options))

    def ask_stream(self, question: str, **options: Unpack[AskOptions]) -> Iterator[str | Answer]:
        """:meth:`ask`, showing the reply while it is written: :attr:`chain` streamed.

        With a :class:`~qa_assistant.protocols.StreamingAnswerer` (the LLM answerers) it
        yields the model's text in pieces as they arrive; every answerer ends with the checked
        :class:`Answer`, last, exactly as :meth:`ask` returns it. The extractive answerer
        writes nothing to stream: its answer is the only item.
        """
        # The runnable's type names what invoke returns; its stream puts the pieces first.
        return cast(Iterator[str | Answer], self.chain.stream(Question(question, **options)))

    # -- documents --------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        return self.index.documents()

    def document_text(self, source: str) -> str:
        text = self.index.document_text(source)
        if text is None:
            raise IndexStoreError(f"No document {source!r} in the index.")
        return text

    def delete_document(self, source: str, *, remove_file: bool = False) -> None:
        """Removes ``source`` from the store; with ``remove_file`` also its file in the
        documents folder, so that the next "re-ingest all" does not bring it back.

        The file goes first and under the same lock: an ingest of the folder on another replica
        can then never find the file after its record is gone, and a crash in between leaves a
        record without its file, which the next ingest of the folder removes.
        """
        with self.ingest_lock() as lock:
            lock.check()
            if remove_file:
                root = self.settings.documents_dir.resolve()
                target = (root / source).resolve()
                if target.is_relative_to(root) and target != root and target.is_file():
                    target.unlink()
            self.index.remove_document(source)
        with self._sync:
            self._follow(save=True)

    def close(self) -> None:
        self._retriever = None


def _load_word_segmenter() -> None:
    from ._vietnamese import word_tokens

    word_tokens("khởi động")
