"""Spans of text → pieces that fit a token budget, split at the largest unit that works:
clauses (``1.``), points (``a)``), paragraphs, lines, sentences, words, and as a last resort
characters."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from .._vietnamese import sentence_spans
from .headings import CLAUSE, POINT, Span

__all__ = [
    "FINE_SPLITTERS",
    "LEGAL_SPLITTERS",
    "PLAIN_SPLITTERS",
    "CountTokens",
    "Packer",
    "strip_span",
]

CountTokens = Callable[[str], int]


def strip_span(text: str, span: Span) -> Span:
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_at(text: str, span: Span, starts: list[int]) -> list[Span]:
    """Cut ``span`` before each offset in ``starts``; drop empty pieces."""
    cuts = [span[0], *(s for s in starts if span[0] < s < span[1]), span[1]]
    pieces = (strip_span(text, (a, b)) for a, b in itertools.pairwise(cuts))
    return [p for p in pieces if p[0] < p[1]]


def _line_starts(text: str, span: Span, pattern: re.Pattern[str]) -> list[int]:
    starts: list[int] = []
    pos = span[0]
    while pos < span[1]:
        nl = text.find("\n", pos, span[1])
        line_start = pos
        stripped = line_start
        while stripped < span[1] and text[stripped] in " \t":
            stripped += 1
        if pattern.match(text, stripped, span[1]):
            starts.append(line_start)
        if nl < 0:
            break
        pos = nl + 1
    return starts


def _by_clause(text: str, span: Span) -> list[Span]:
    return _split_at(text, span, _line_starts(text, span, CLAUSE))


def _by_point(text: str, span: Span) -> list[Span]:
    return _split_at(text, span, _line_starts(text, span, POINT))


def _by_paragraph(text: str, span: Span) -> list[Span]:
    starts = [m.end() for m in re.finditer(r"\n[ \t]*\n", text[span[0] : span[1]])]
    return _split_at(text, span, [span[0] + s for s in starts])


def _by_line(text: str, span: Span) -> list[Span]:
    starts = [m.end() for m in re.finditer(r"\n", text[span[0] : span[1]])]
    return _split_at(text, span, [span[0] + s for s in starts])


def _by_sentence(text: str, span: Span) -> list[Span]:
    return [(span[0] + a, span[0] + b) for a, b in sentence_spans(text[span[0] : span[1]])]


def _by_word(text: str, span: Span) -> list[Span]:
    return [
        (span[0] + m.start(), span[0] + m.end())
        for m in re.finditer(r"\S+", text[span[0] : span[1]])
    ]


_Splitter = Callable[[str, Span], list[Span]]
LEGAL_SPLITTERS: tuple[_Splitter, ...] = (_by_clause, _by_point, _by_paragraph, _by_line)
PLAIN_SPLITTERS: tuple[_Splitter, ...] = (_by_paragraph, _by_line)
FINE_SPLITTERS: tuple[_Splitter, ...] = (_by_sentence, _by_word)


class Packer:
    """Splits spans into pieces that fit ``max_tokens`` under ``count_tokens``."""

    def __init__(self, text: str, max_tokens: int, count_tokens: CountTokens) -> None:
        self.text = text
        self.max_tokens = max_tokens
        self.count = count_tokens
        # What an empty passage costs (a model prefix, special tokens): counted once, so a
        # run of units can be estimated by adding their own costs.
        self.base = count_tokens("")

    def fits(self, span: Span) -> bool:
        return self.count(self.text[span[0] : span[1]]) <= self.max_tokens

    def split(self, span: Span, splitters: tuple[_Splitter, ...]) -> list[Span]:
        if self.fits(span):
            return [span]
        for i, splitter in enumerate(splitters):
            units = splitter(self.text, span)
            if len(units) > 1:
                return self._pack(units, splitters[i:])
        return self._split_chars(span)

    def _pack(self, units: list[Span], splitters: tuple[_Splitter, ...]) -> list[Span]:
        """Greedily join neighbouring units while the joined text fits."""
        costs = [max(self.count(self.text[a:b]) - self.base, 0) for a, b in units]
        budget = self.max_tokens - self.base
        if splitters[0] is _by_word:
            # Even out the pieces of an over-long sentence so none ends as a lone word.
            n = -(-sum(costs) // max(budget, 1))
            budget = min(budget, -(-sum(costs) // max(n, 1)) + max(costs))
        pieces: list[Span] = []
        run: list[Span] = []
        run_cost = 0
        for unit, cost in zip(units, costs, strict=True):
            if run and run_cost + cost > budget:
                if run_cost * 4 <= budget:
                    # A short lead such as "Điều 20. Title" must not stand alone: it opens
                    # the first piece of what follows, split one level finer.
                    unit = (run[0][0], unit[1])
                    cost = self.max_tokens  # force the finer split below
                else:
                    pieces.extend(self._close(run))
                run, run_cost = [], 0
            if self.base + cost > self.max_tokens:
                pieces.extend(self.split(unit, splitters[1:]))
                continue
            run.append(unit)
            run_cost += cost
        pieces.extend(self._close(run))
        return pieces

    def _close(self, run: list[Span]) -> list[Span]:
        """The run as one piece; if the estimate was optimistic, shed units until it fits."""
        if not run:
            return []
        out: list[Span] = []
        while run:
            take = len(run)
            while take > 1 and not self.fits((run[0][0], run[take - 1][1])):
                take -= 1
            out.append((run[0][0], run[take - 1][1]))
            run = run[take:]
        return out

    def _split_chars(self, span: Span) -> list[Span]:
        """A single word longer than the budget: cut at the longest prefix that fits."""
        pieces: list[Span] = []
        start, end = span
        while start < end:
            if self.fits((start, end)):
                pieces.append((start, end))
                break
            lo, hi = start + 1, end  # the answer lies in [lo, hi)
            while lo + 1 < hi:
                mid = (lo + hi) // 2
                if self.fits((start, mid)):
                    lo = mid
                else:
                    hi = mid
            pieces.append((start, lo))
            start = lo
        return pieces
