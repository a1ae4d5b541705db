"""A model's reply checked against the passages it was given: each sentence keeps a marker only
where the cited passage holds what the sentence states (:mod:`.claims`); a sentence no cited
passage holds is cited to the passage that holds it, or dropped. The sentences kept, renumbered
in the order they cite, make the answer's text, each citation quoting the passage's sentence
that backs them most."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .._retrieval.question import folded_syllables
from .._vietnamese import sentence_spans
from ..types import Citation, Hit
from .claims import Claim, claim_of, figures_held, is_refusal, support
from .common import cite

__all__ = ["CheckedReply", "Sentence", "check_reply"]

_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")


@dataclass(frozen=True)
class Sentence:
    """A sentence of the reply that is shown: its claim and the passages (1-based, as the
    model numbered them) that hold it."""

    claim: Claim
    passages: tuple[int, ...]
    gap: str  # what separated it from the sentence before: a line break or a space
    shown: str  # the sentence as written, without its markers (a list's numbering kept)

    def text(self, order: dict[int, int]) -> str:
        markers = "".join(f"[{order[n]}]" for n in self.passages)
        body = self.shown
        if body[-1:] in ".!;:…":
            body = f"{body[:-1].rstrip()} {markers}{body[-1]}"
        else:
            body = f"{body} {markers}"
        return ("\n" if "\n" in self.gap else "") + body


@dataclass(frozen=True)
class CheckedReply:
    kept: tuple[Sentence, ...]
    warnings: tuple[str, ...]
    refused: bool  # the model said, in its own words, that the passages do not answer
    dropped_facts: bool  # a sentence stating a figure, name or group no passage holds went

    def shown(self, passages: Sequence[Hit]) -> tuple[str, tuple[Citation, ...]]:
        """The kept sentences as the answer's text, the passages renumbered in the order the
        text cites them, and their citations."""
        order: dict[int, int] = {}
        for sentence in self.kept:
            for n in sentence.passages:
                order.setdefault(n, len(order) + 1)
        text = " ".join(s.text(order) for s in self.kept)
        text = re.sub(r" ?\n ?", "\n", text).strip()
        citations = tuple(
            _supporting_citation(
                new, passages[old - 1], [s.claim for s in self.kept if old in s.passages]
            )
            for old, new in order.items()
        )
        return text, citations


def check_reply(reply: str, passages: Sequence[Hit], min_overlap: float) -> CheckedReply:
    """Each sentence of ``reply`` with the passages that hold it (see the module's docstring)."""
    if is_refusal(reply):
        return CheckedReply((), (), refused=True, dropped_facts=False)
    if not _MARKER.search(reply):
        # A model that cites nothing did not answer from the passages, whatever it wrote.
        return CheckedReply((), ("the reply cites no passage",), refused=False, dropped_facts=False)
    kept: list[Sentence] = []
    warnings: list[str] = []
    dropped_facts = False
    previous_end = 0
    for start, end in sentence_spans(reply):
        gap, previous_end = reply[previous_end:start], end
        sentence = reply[start:end]
        cited = _cited(sentence)
        for n in cited:
            if not 1 <= n <= len(passages):
                warnings.append(
                    f"removed citation marker [{n}]: only passages 1–{len(passages)} were given"
                )
        shown = _without_markers(sentence)
        claim = claim_of(shown)
        if not (claim.words or claim.figures or claim.names or claim.groups):
            continue  # a stray marker or a bullet: nothing is stated
        if claim.text.endswith("?"):
            warnings.append(f"dropped {claim.text!r}: a question, not a statement")
            continue
        backing = [support(claim, hit) for hit in passages]
        holding = {n for n, s in enumerate(backing, 1) if s.holds and s.overlap >= min_overlap}
        held = tuple(n for n in dict.fromkeys(cited) if n in holding)
        if not held and not holding:
            warnings.append(
                f"dropped {claim.text!r}: no passage given holds {claim.facts or 'its words'}"
            )
            dropped_facts = dropped_facts or bool(claim.figures or claim.names or claim.groups)
            continue
        if not held:
            best = max(holding, key=lambda n: (backing[n - 1].overlap, -n))
            was = f" instead of {', '.join(f'[{n}]' for n in cited)}" if cited else ""
            warnings.append(f"cited {claim.text!r} to passage [{best}], which holds it{was}")
            held = (best,)
        kept.append(Sentence(claim, held, gap, shown))
    return CheckedReply(tuple(kept), tuple(warnings), refused=False, dropped_facts=dropped_facts)


def _cited(sentence: str) -> list[int]:
    return [
        int(n)
        for m in _MARKER.finditer(sentence)
        for n in re.split(r"\s*[,;]\s*", m.group(1).strip())
    ]


def _without_markers(sentence: str) -> str:
    text = _MARKER.sub(" ", sentence)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)  # "câu [7]." → "câu ." → "câu."
    return re.sub(r"\s{2,}", " ", text).strip()


def _supporting_citation(marker: int, hit: Hit, claims: Sequence[Claim]) -> Citation:
    """Cite the sentence of the passage that holds most of the claims' figures and words."""
    text = hit.chunk.text
    spans = sentence_spans(text) or [(0, len(text))]
    words = set().union(*(c.words for c in claims))

    def backing(span: tuple[int, int]) -> tuple[int, float, int]:
        quoted = text[span[0] : span[1]]
        held = sum(figures_held(c, quoted) for c in claims if c.figures)
        tokens = set(folded_syllables(quoted))
        shared = len(words & tokens)
        # Prefer the sentence holding the figures, then dense matches, then the earlier one.
        return (held, shared + shared / (len(tokens) + 1), -span[0])

    start, end = max(spans, key=backing)
    return cite(marker, hit, start, end)
