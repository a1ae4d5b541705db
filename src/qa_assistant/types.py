"""The data that flows between pipeline stages, as frozen dataclasses.

Library shapes (Chroma results, LangChain documents) never leave the module that uses them;
every stage speaks in these types instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

__all__ = [
    "CITATION_MARKER",
    "OCR_NOTICE",
    "Answer",
    "Chunk",
    "Citation",
    "Document",
    "DocumentInfo",
    "FailedFile",
    "Filters",
    "Hit",
    "IngestReport",
    "Question",
    "Span",
    "StoreVersion",
    "date_number",
    "number_date",
    "page_label",
]

# A citation marker in an answer's text: "[2]". Three digits at most: no answer cites a
# thousand passages, and a long run of digits in brackets is the document's own text.
CITATION_MARKER = re.compile(r"\[(\d{1,3})\]")


def date_number(d: date | None) -> int:
    """``yyyymmdd``, 0 when unknown: dates where only numbers compare (Chroma's filters)."""
    return d.year * 10000 + d.month * 100 + d.day if d else 0


def number_date(value: Any) -> date | None:
    """The date :func:`date_number` gave, None for 0 or a missing value."""
    v = int(value or 0)
    return date(v // 10000, v // 100 % 100, v % 100) if v else None


# What the CLI and the citation panel say beside a passage that OCR read from a scan.
OCR_NOTICE = "văn bản quét, có thể có lỗi nhận dạng"


def page_label(first: int, last: int) -> str:
    """How a citation names its pages: "trang 3", "trang 3–4"; "" without page numbers."""
    if not first:
        return ""
    return f"trang {first}" if last <= first else f"trang {first}–{last}"


@dataclass(frozen=True)
class Document:
    """One source file, loaded, cleaned and normalised to NFC.

    ``text`` is the normalised text that every span in the pipeline refers to.
    ``notes`` carries what the loader wants the user to know (e.g. debris removed).
    """

    source: str  # path relative to the documents folder, with forward slashes
    title: str
    text: str
    content_hash: str  # sha256 of the raw bytes: drives incremental ingest
    date: date | None = None
    format: str = "txt"  # txt, md, html, pdf, docx, doc, image
    notes: tuple[str, ...] = ()
    # Where each printed page starts in ``text`` (page n at ``pages[n - 1]``); empty for
    # formats without pages. ``ocr_pages``: the page numbers whose text came from OCR.
    pages: tuple[int, ...] = ()
    ocr_pages: tuple[int, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: ``document.text[start:end] == text``."""

    id: str  # stable: derived from source, content hash and ordinal
    source: str
    title: str
    text: str
    start: int
    end: int
    heading: tuple[str, ...] = ()  # e.g. ("Luật Cư trú", "Chương II", "Điều 20")
    ordinal: int = 0  # position of the chunk within its document
    date: date | None = None
    page: int = 0  # the printed page the chunk starts on; 0 for formats without pages
    page_breaks: tuple[int, ...] = ()  # document offsets inside the chunk where a page starts
    ocr: bool = False  # some of its text was read by OCR from a scan or photo
    # An official document's header, its "Căn cứ" preamble or its "Nơi nhận" and signature:
    # kept, so that it can be read and cited, but retrieval ranks it below the provisions.
    boilerplate: bool = False

    @property
    def heading_path(self) -> str:
        return " › ".join(self.heading)

    def page_at(self, offset: int) -> int:
        """The page of the document offset ``offset`` inside this chunk (0 without pages)."""
        if not self.page:
            return 0
        return self.page + sum(1 for b in self.page_breaks if b <= offset)

    @property
    def indexed_text(self) -> str:
        """What the models and the lexical index read: the heading path (law › chapter ›
        article title tells what a clause is about), then the text."""
        return f"{self.heading_path}\n{self.text}" if self.heading else self.text

    def metadata(self) -> dict[str, str | int]:
        """Every field but ``id`` and ``text`` as flat values (what Chroma stores beside a
        vector): the heading as a JSON list, the date as :func:`date_number`."""
        return {
            "source": self.source,
            "title": self.title,
            "heading": json.dumps(list(self.heading), ensure_ascii=False),
            "start": self.start,
            "end": self.end,
            "ordinal": self.ordinal,
            "date": date_number(self.date),
            "page": self.page,
            "page_breaks": json.dumps(list(self.page_breaks)),
            "ocr": int(self.ocr),
            "boilerplate": int(self.boilerplate),
        }

    @classmethod
    def from_metadata(cls, chunk_id: str, text: str, meta: Mapping[str, Any]) -> Chunk:
        """The chunk whose :meth:`metadata` is ``meta``; other keys in ``meta`` are ignored."""
        return cls(
            id=chunk_id,
            source=str(meta["source"]),
            title=str(meta["title"]),
            text=text,
            start=int(meta["start"]),
            end=int(meta["end"]),
            heading=tuple(str(h) for h in json.loads(meta["heading"])),
            ordinal=int(meta["ordinal"]),
            date=number_date(meta.get("date")),
            # Chunks stored before pages were recorded have none of the three.
            page=int(meta.get("page") or 0),
            page_breaks=tuple(int(b) for b in json.loads(meta.get("page_breaks") or "[]")),
            ocr=bool(meta.get("ocr")),
            boilerplate=bool(meta.get("boilerplate")),
        )


@dataclass(frozen=True)
class StoreVersion:
    """Which committed state of which store: the head of the store's change log."""

    store_id: str  # random per store, new after a rebuild; "" before the first logged change
    generation: int  # one more per committed or removed document


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its score (higher is better) and 1-based rank."""

    chunk: Chunk
    score: float
    rank: int = 0
    scores: tuple[tuple[str, float], ...] = ()  # per-leg scores, e.g. (("dense", 0.8),)

    def leg(self, name: str) -> float | None:
        """The score one stage gave this hit ("dense", "bm25", "relevance"), if it scored it."""
        return next((v for n, v in self.scores if n == name), None)

    @property
    def relevance(self) -> float | None:
        """The relevance model's probability that this passage answers the question, if the
        relevance model scored it: the verdict an answerer that takes a second look reads."""
        return self.leg("relevance")


@dataclass(frozen=True)
class Citation:
    """One ``[n]`` marker of an answer and the exact words it stands for.

    ``quote`` occurs verbatim in ``passage``; ``start``/``end`` locate the quote in the
    normalised document text, so ``document.text[start:end] == quote``.
    """

    marker: int
    source: str
    title: str
    heading: str
    passage: str
    quote: str
    start: int
    end: int
    date: date | None = None
    chunk_id: str = ""
    page: int = 0  # the printed page the quote starts on (0: the format has no pages)
    last_page: int = 0  # and ends on
    ocr: bool = False  # the passage was read by OCR: staff should check the printed page

    @property
    def page_label(self) -> str:
        return page_label(self.page, self.last_page)


@dataclass(frozen=True)
class Span:
    """Where a passage answers a question, by the span model: characters ``start:end`` of
    the passage text it read, and by how much it prefers this span to "no answer" (its
    margin; above 0: more likely an answer than not, on the model's own scale)."""

    start: int
    end: int
    margin: float


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()  # what retrieval returned, in rank order
    latency_ms: float = 0.0
    # For the operator, in English: an LLM marker that no passage supports, a server that
    # failed and the setting to check. Never shown on the citizens' page.
    warnings: tuple[str, ...] = ()
    # The quotes are the provisions that decide a statement ("…, đúng hay sai?"), for the asker
    # to check the case against, not an answer that the documents state.
    provision: bool = False
    # The short answer inside the quotes (what the span model found: "10 triệu đồng"); the
    # text holds it verbatim. Empty when none was found.
    answer_span: str = ""
    # Why it answered or abstained, for the operator and `ask --json`: the check that decided
    # and its figures ("rules: coverage 0.74, sentence 0.52"; "abstained: no sentence passes
    # the rules; related: coverage 0.41").
    reason: str = ""
    # For the visitor, in Vietnamese: why the answer is not the LLM's reply, or not all of it
    # (the server failed, the reply was cut, a sentence no passage holds was left out).
    note: str = ""

    def to_dict(self, *, retrieved: int = 10) -> dict[str, Any]:
        """The JSON shape of ``qa-assistant ask --json``, shared by the CLI, eval and the API."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "answer_span": self.answer_span or None,
            "citations": [
                {
                    "marker": c.marker,
                    "source": c.source,
                    "title": c.title,
                    "date": c.date.isoformat() if c.date else None,
                    "heading": c.heading,
                    "text": c.passage,
                    "quote": c.quote,
                    "start": c.start,
                    "end": c.end,
                    "page": c.page or None,
                    "pages": c.page_label or None,
                    "ocr": c.ocr,
                }
                for c in self.citations
            ],
            "retrieved": [
                {
                    "source": h.chunk.source,
                    "heading": h.chunk.heading_path,
                    "text": h.chunk.text,
                    "score": round(h.score, 6),
                    "start": h.chunk.start,
                    "end": h.chunk.end,
                    "page": h.chunk.page or None,
                }
                for h in self.hits[: max(retrieved, 0)]
            ],
            "warnings": list(self.warnings),
            "note": self.note or None,
            "provision": self.provision,
            "reason": self.reason,
            "latency_ms": round(self.latency_ms, 2),
        }


@dataclass(frozen=True)
class Filters:
    """Restricts retrieval to some documents and/or a publication date range."""

    sources: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None

    def is_empty(self) -> bool:
        return not self.sources and self.date_from is None and self.date_to is None

    def admits(self, chunk: Chunk) -> bool:
        if self.sources and chunk.source not in self.sources:
            return False
        if self.date_from is not None and (chunk.date is None or chunk.date < self.date_from):
            return False
        return not (self.date_to is not None and (chunk.date is None or chunk.date > self.date_to))


@dataclass(frozen=True)
class Question:
    """What :attr:`Assistant.chain <qa_assistant.Assistant.chain>` is asked: the question and
    how to answer it; each option left None takes its setting (``QA_K``, ``QA_RETRIEVER``)."""

    text: str
    k: int | None = None  # passages given to the answerer
    retriever: str | None = None  # "hybrid", "dense" or "bm25"
    filters: Filters | None = None
    history: Sequence[str] = ()  # earlier questions of the conversation, oldest first


@dataclass(frozen=True)
class FailedFile:
    path: str
    error: str


@dataclass(frozen=True)
class IngestReport:
    documents: int = 0  # documents in the index after the ingest
    chunks: int = 0  # chunks in the index after the ingest
    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    reembedded: int = 0  # stored chunks embedded again for a new embedder
    failed: tuple[FailedFile, ...] = field(default_factory=tuple)
    seconds: float = 0.0


@dataclass(frozen=True)
class DocumentInfo:
    """What the index knows of one ingested document (for listings and the Documents tab)."""

    source: str
    title: str
    date: date | None
    chunks: int
    content_hash: str
    ingested_at: str  # ISO 8601, UTC
    format: str = "txt"
