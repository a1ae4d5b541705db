"""The deploy check's answers under load, held to the same question asked alone, where the
staff's changes do not change that answer."""

from __future__ import annotations

from collections.abc import Sequence

from ..drivers.page_client import PageSession
from .load import Asked, answer_key
from .questions import Ask
from .replicas import DeployCheckError, Replica

__all__ = ["answer_mismatches", "asked_alone"]


def asked_alone(replica: Replica, asks: Sequence[Ask]) -> dict[Ask, str]:
    """Each question asked alone, one after another: the answers the load must not change."""
    with PageSession(replica.url) as page:
        answers = {}
        for ask in asks:
            outcome = page.ask(ask.question, ask.history)
            if not outcome.success:
                raise DeployCheckError(
                    f"Replica {replica.number} could not answer {ask.question!r} alone: "
                    f"{outcome.error}; see {replica.log}."
                )
            answers[ask] = answer_key(outcome.data[0])
        return answers


def answer_mismatches(
    asked: Sequence[Asked], before: dict[Ask, str], after: dict[Ask, str]
) -> tuple[int, list[str]]:
    """(answers compared, how they differ): answers under load against the question asked
    alone, for the questions whose lone answer the staff's changes left as it was, each
    answer from the documents staff leave alone (an answer that read an upload depends on
    when it was asked)."""
    stable = {q for q, answer in before.items() if after.get(q) == answer}
    compared = [a for a in asked if a.ask in stable and not a.staff]
    return len(compared), [
        f"{a.ask.question!r}: {a.answer} under load, {before[a.ask]} alone"
        for a in compared
        if a.answer != before[a.ask]
    ]
