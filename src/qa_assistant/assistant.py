"""The assistant: wires loading, the index, retrieval and answering together.

A question runs one pipeline: retrieve → answer → a second look where the answerer abstains
and takes one. :meth:`Assistant.ask` returns its answer; :meth:`Assistant.ask_stream` also
yields a streaming answerer's text as it is written. Callers that already speak LangChain can
compose the same steps as a runnable chain (``Assistant.chain``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._amendments import amendments, asked_before, document_number, in_force
from ._answering.factory import make_answerer
from ._chunking import chunk_token_budget
from ._embedding import make_embedder
from ._follow import sync_lexical
from ._index import ChromaIndex
from ._ingest import Progress, file_hash, ingest, manifest_for
from ._lease import IngestLock, make_ingest_lock
from ._lexical import LexicalIndex
from ._loading import discover
from ._model_build import tuned_weights_of
from ._question import is_small_talk
from ._reader import make_reader
from ._reranker import make_reranker
from ._retrieval import Retriever
from .errors import AnswererError, IndexStoreError
from .protocols import Answerer, Embedder, Reranker, StreamingAnswerer
from .settings import Settings
from .types import Answer, DocumentInfo, Filters, Hit, IngestReport

__all__ = [
    "EMPTY_QUESTION_MESSAGE",
    "HELP_MESSAGE",
    "MAX_QUESTION_CHARS",
    "Assistant",
]

MAX_QUESTION_CHARS = 2000
EMPTY_QUESTION_MESSAGE = "Hãy nhập câu hỏi của bạn về nội dung tài liệu."
# The reply to a greeting, thanks or anything else that asks nothing of the documents.
HELP_MESSAGE = (
    "Xin chào! Tôi trả lời câu hỏi về nội dung các tài liệu chính sách đã được đưa lên, "
    "trích dẫn đúng đoạn văn bản làm căn cứ. Bạn có thể hỏi, ví dụ:\n"
    "- Hộ nghèo được hỗ trợ những gì?\n"
    "- Mức trợ cấp hằng tháng cho người cao tuổi là bao nhiêu?\n"
    "- Hồ sơ xin hỗ trợ gồm những giấy tờ gì, nộp ở đâu?"
)


def _well_formed(text: str) -> str:
    # A lone surrogate (a JSON "\ud800", a command-line byte that is not UTF-8) is not text:
    # the word segmenter crashes on it and no answer quoting it could be encoded.
    return text.encode("utf-8", "replace").decode("utf-8")


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
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._reranker = reranker
        # The answer reader, loaded at its first use (None when off or another answerer is
        # given): made here so that warm_up can load it.
        self.reader = make_reader(settings) if answerer is None else None
        self.answerer = answerer or make_answerer(settings, self.reader)
        self.index = ChromaIndex(
            settings.index_dir, collection=settings.collection, chroma_url=settings.chroma_url
        )
        self._retriever: Retriever | None = None
        # Which documents amend which, as of a retriever: worked out again only once the store
        # moved on (it reads the whole document registry).
        self._amendments: tuple[Retriever, dict[str, DocumentInfo]] | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._sync = threading.Lock()  # one catch-up with the store at a time
        self._chain: Any = None

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
    def reranker(self) -> Reranker | None:
        """The relevance model, or None on the fast path (``QA_RELEVANCE__ENABLED=false``)."""
        with self._lock:
            if self._reranker is None and self.settings.relevance.enabled:
                self._reranker = make_reranker(self.settings)
            return self._reranker

    @property
    def relevance_threshold(self) -> float | None:
        """The learned stage's abstention threshold, None on the fast path."""
        from ._reranker import relevance_threshold

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
            tuning=self.settings.retrieval,
            scoring=self.settings.scoring,
            reranker=self.reranker,
            relevance=self.settings.relevance,
        )
        self._retriever = retriever  # one assignment: concurrent questions see old or new
        self._checked_at = time.monotonic()
        return retriever

    def warm_up(self) -> None:
        """Load the model, the indexes and the Vietnamese tools now, not on the first question."""
        from ._vietnamese import restore_diacritics, word_tokens

        self.embedder.embed_query("khởi động")
        if self.reranker is not None:
            self.reranker.score("khởi động", ["khởi động"])
        if self.reader is not None:
            self.reader.read("khởi động", ["khởi động"])
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
    def chain(self) -> Any:
        """The LangChain runnable: {"question", "k", "retriever", "filters", "history"} → Answer.

        The same retrieve and answer steps as :meth:`ask`, for callers that compose LangChain.
        """
        if self._chain is None:
            from langchain_core.runnables import RunnableLambda

            # Not RunnablePassthrough.assign: it runs its step through a thread pool made
            # afresh for every question (a new thread per call, ~5 ms on a busy 2-core box).
            self._chain = RunnableLambda(self._with_hits) | RunnableLambda(self._answer_step)
        return self._chain

    def _with_hits(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {**inputs, "hits": self._retrieve_step(inputs)}

    def _retrieve_step(self, inputs: dict[str, Any]) -> list[Hit]:
        # "snapshot": the retriever ask() already took, so one question looks at the store once.
        snapshot: Retriever = inputs.get("snapshot") or self.retriever()
        return snapshot.retrieve(
            inputs["question"],
            inputs["k"],
            mode=inputs["retriever"],
            filters=inputs.get("filters"),
            history=inputs.get("history", ()),
        )

    def _answer_step(self, inputs: dict[str, Any]) -> Answer:
        return _answer_of(self._answer_events(inputs, inputs["hits"], stream=False))

    def _answer_events(
        self, inputs: dict[str, Any], hits: list[Hit], *, stream: bool
    ) -> Iterator[str | Answer]:
        """The answer from ``hits``, last; with ``stream`` and a streaming answerer, the reply's
        text before it as the model writes it. Where an answerer that takes a second look
        (:attr:`~qa_assistant.protocols.Answerer.second_look`: the extractive one) abstains, it
        is asked again with the relevance model's scores (:meth:`Retriever.second_look`) when
        the learned stage is on."""
        question, k = inputs["question"], inputs["k"]
        if stream and isinstance(self.answerer, StreamingAnswerer):
            answer = yield from _streamed(self.answerer, question, hits[:k])
        else:
            answer = self.answerer.answer(question, hits[:k])
        snapshot: Retriever = inputs.get("snapshot") or self.retriever()
        if answer.abstained and self.answerer.second_look:
            rescored = snapshot.second_look(question, hits, inputs.get("history", ()))
            if rescored is not None:
                hits = rescored
                answer = self.answerer.answer(question, hits[:k])
        if not answer.abstained and not answer.provision and answer.citations:
            answer = self._in_force(inputs, snapshot, answer)
        # The answerer sees the top k; the caller sees everything retrieval ranked.
        yield replace(answer, hits=tuple(hits))

    def _in_force(self, inputs: dict[str, Any], snapshot: Retriever, answer: Answer) -> Answer:
        """The answer from the document that amends the one it quotes, where that document
        answers too and the question asks about no time before it (:mod:`._amendments`)."""
        if isinstance(self.answerer, StreamingAnswerer):
            return answer  # an LLM's reply is not asked twice
        if document_number(answer.citations[0].title) is None:
            return answer  # only a numbered document can be named as amended
        question = inputs["question"]
        known = self._amendments
        if known is None or known[0] is not snapshot:
            known = self._amendments = (snapshot, amendments(self.documents()))
        newer = known[1].get(answer.citations[0].source)
        if newer is None or (newer.date is not None and asked_before(question, newer.date)):
            return answer
        hits = snapshot.retrieve(
            question,
            inputs["k"],
            mode=inputs["retriever"],
            filters=Filters(sources=(newer.source,)),
            history=inputs.get("history", ()),
        )
        amended = self.answerer.answer(question, hits[: inputs["k"]])
        if amended.abstained or not amended.citations:
            return answer
        return in_force(amended, answer, newer.title)

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        retriever: str | None = None,
        filters: Filters | None = None,
        history: Sequence[str] = (),
    ) -> Answer:
        return _answer_of(self._events(question, k, retriever, filters, history, stream=False))

    def ask_stream(
        self,
        question: str,
        *,
        k: int | None = None,
        retriever: str | None = None,
        filters: Filters | None = None,
        history: Sequence[str] = (),
    ) -> Iterator[str | Answer]:
        """:meth:`ask`, showing the reply while it is written.

        With a :class:`~qa_assistant.protocols.StreamingAnswerer` (the LLM answerers) it
        yields the model's text in pieces as they arrive; every answerer ends with the checked
        :class:`Answer`, last, exactly as :meth:`ask` returns it. The extractive answerer
        writes nothing to stream: its answer is the only item.
        """
        return self._events(question, k, retriever, filters, history, stream=True)

    def _events(
        self,
        question: str,
        k: int | None,
        retriever: str | None,
        filters: Filters | None,
        history: Sequence[str],
        *,
        stream: bool,
    ) -> Iterator[str | Answer]:
        """A question's one pipeline, that :meth:`ask` and :meth:`ask_stream` both run:
        retrieve, answer (streamed or at once), the second look; the timed answer last."""
        started = time.perf_counter()
        inputs = self._question_inputs(question, k, retriever, filters, history)
        if isinstance(inputs, Answer):
            yield inputs
            return
        hits = self._retrieve_step(inputs)
        for event in self._answer_events(inputs, hits, stream=stream):
            if isinstance(event, Answer):
                event = replace(event, latency_ms=(time.perf_counter() - started) * 1000)
            yield event

    def _question_inputs(
        self,
        question: str,
        k: int | None,
        retriever: str | None,
        filters: Filters | None,
        history: Sequence[str],
    ) -> dict[str, Any] | Answer:
        """The chain's inputs for a question, or the answer to an empty one."""
        question = _well_formed(question[:MAX_QUESTION_CHARS])
        if not question.strip():
            return Answer(question=question, text=EMPTY_QUESTION_MESSAGE, abstained=True)
        if is_small_talk(question):
            return Answer(question=question, text=HELP_MESSAGE, abstained=True)
        snapshot = self.retriever()
        if len(snapshot.lexical) == 0:
            raise IndexStoreError(
                f"The index at {self.index.location} is empty. Add documents with "
                "`qa-assistant ingest` (or `make run`)."
            )
        return {
            "question": question,
            "k": k or self.settings.k,
            "retriever": retriever or self.settings.retriever,
            "filters": filters,
            "history": tuple(_well_formed(h) for h in history),
            "snapshot": snapshot,
        }

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


def _streamed(
    answerer: StreamingAnswerer, question: str, hits: Sequence[Hit]
) -> Generator[str, None, Answer]:
    """Yields the reply's text as the answerer writes it; returns the answer it ends with."""
    answer: Answer | None = None
    for step in answerer.stream(question, hits):
        if isinstance(step, Answer):
            answer = step
        else:
            yield step
    if answer is None:
        raise AnswererError(
            f"{type(answerer).__name__}.stream ended without an answer: "
            "check that the answerer yields its Answer last."
        )
    return answer


def _answer_of(events: Iterable[str | Answer]) -> Answer:
    """The answer a question's events end with (the draft's pieces before it passed over)."""
    return [event for event in events if isinstance(event, Answer)][-1]


def _load_word_segmenter() -> None:
    from ._vietnamese import word_tokens

    word_tokens("khởi động")
