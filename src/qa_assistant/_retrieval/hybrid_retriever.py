"""The assistant's retrieval as a LangChain retriever, for the pipeline and for any chain.

Each LangChain ``Document`` is one ranked passage: the chunk's text, its id as the document's
id, and in its metadata the chunk's stored fields (:meth:`Chunk.metadata`) with the hit's
``score``, ``rank`` and per-stage ``scores`` (a name → score mapping), so that
:func:`as_hit` gives back the very :class:`Hit`. The LangChain shapes stay in this module: the
pipeline reads hits (:func:`retrieve_hits`).
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig

from ..types import Chunk, Filters, Hit
from .retriever import Retriever

__all__ = ["HybridRetriever", "as_document", "as_hit", "retrieve_hits"]


class HybridRetriever(BaseRetriever):
    """The ``k`` passages that best answer a question, as the assistant retrieves them
    (``mode``: "hybrid", "dense" or "bm25"; ``history``: the conversation's earlier questions,
    which a follow-up borrows its topic from).

    ``store`` gives the store's retriever as it is at each question; ``whole_ranking`` returns
    every passage retrieval ranked, not only the top ``k``: the assistant's answer carries them
    all, and its second look re-scores beyond ``k``.
    """

    store: Callable[[], Retriever]
    k: int
    mode: str = "hybrid"
    filters: Filters | None = None
    history: tuple[str, ...] = ()
    whole_ranking: bool = False

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self.store().retrieve(
            query, self.k, mode=self.mode, filters=self.filters, history=self.history
        )
        return [as_document(hit) for hit in (hits if self.whole_ranking else hits[: self.k])]


def as_document(hit: Hit) -> Document:
    """The hit as a LangChain document; :func:`as_hit` reads it back."""
    chunk = hit.chunk
    metadata = {
        **chunk.metadata(),
        "score": hit.score,
        "rank": hit.rank,
        "scores": dict(hit.scores),
    }
    return Document(id=chunk.id, page_content=chunk.text, metadata=metadata)


def as_hit(document: Document) -> Hit:
    """The hit :func:`as_document` made ``document`` from."""
    meta = document.metadata
    chunk = Chunk.from_metadata(str(document.id), document.page_content, meta)
    return Hit(chunk, meta["score"], meta["rank"], tuple(meta["scores"].items()))


def retrieve_hits(retriever: HybridRetriever, question: str, config: RunnableConfig) -> list[Hit]:
    """What ``retriever`` finds for ``question``, run as a step of a chain (``config``: the
    chain's, so that its callbacks see the retrieval)."""
    return [as_hit(document) for document in retriever.invoke(question, config)]
