"""The deploy check's citizens: each asks its questions over the ``ask`` API, keeping its page
session on a replica between questions as a browser tab does; like a reverse proxy, a request
that cannot reach a replica goes to the next one (a failover, counted), and only a request no
replica answers is an error. What they were answered, and how long it took, goes in a tally."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..drivers.page_client import PageSession
from .questions import Ask
from .replicas import Replica

__all__ = ["SEED", "Asked", "Tally", "answer_key", "reads_staff_documents", "run_citizen"]

SEED = 7
THINK_TIME_S = 0.5  # longest pause of a citizen between two questions


@dataclass(frozen=True)
class Asked:
    """One question answered under load, and where its time went."""

    ask: Ask
    queued_ms: float
    handled_ms: float
    assistant_ms: float
    answer: str  # what must not change under load: see answer_key
    staff: bool  # its passages included a document staff uploaded (see reads_staff_documents)
    finished: float  # time.monotonic() when the answer came

    @property
    def latency_ms(self) -> float:
        return self.queued_ms + self.handled_ms


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    asked: list[Asked] = field(default_factory=list)
    failovers: int = 0
    errors: list[str] = field(default_factory=list)
    uploads: int = 0
    deletes: int = 0

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def reads_staff_documents(answer: dict[str, Any], seed: Collection[str]) -> bool:
    """Whether the answer's passages include a document not in the folder the replicas
    started from: an answer given while staff upload and delete may then differ from the
    question asked alone both before and after (an upload deleted again, the word weights of
    a store between the two), so it is not held to them."""
    return any(h["source"] not in seed for h in answer.get("retrieved", []))


def answer_key(answer: dict[str, Any]) -> str:
    """An answer's text, abstention and citations (what a citizen reads), as one string.

    Scores and ``latency_ms`` are left out: BM25 weights follow the store's contents, and time
    is not an answer.
    """
    citations = [
        (c["source"], c["quote"], c["start"], c["end"]) for c in answer.get("citations", [])
    ]
    return json.dumps([answer["answer"], answer["abstained"], citations], ensure_ascii=False)


class _Citizen:
    """One citizen: a browser tab per replica it has reached, kept between its questions."""

    def __init__(
        self, replicas: Sequence[Replica], user: int, tally: Tally, seed: Collection[str]
    ) -> None:
        self.replicas = replicas
        self.user = user
        self.tally = tally
        self.seed = seed
        self.pages: dict[int, PageSession] = {}

    def close(self) -> None:
        for page in self.pages.values():
            page.close()
        self.pages.clear()

    def _page(self, replica: Replica) -> PageSession:
        if replica.number not in self.pages:
            self.pages[replica.number] = PageSession(replica.url)
        return self.pages[replica.number]

    def ask(self, ask: Ask) -> None:
        first, count = self.user % len(self.replicas), len(self.replicas)
        for replica in (self.replicas[(first + i) % count] for i in range(count)):
            try:
                outcome = self._page(replica).ask(ask.question, ask.history)
            except httpx.TransportError:
                # The replica is gone; its session with it. A new one is opened once it is back.
                if (dead := self.pages.pop(replica.number, None)) is not None:
                    dead.close()
                with self.tally.lock:
                    self.tally.failovers += 1
                continue
            if not outcome.success:
                self.tally.error(f"user {self.user} on replica {replica.number}: {outcome.error}")
                return
            answer = outcome.data[0]
            asked = Asked(
                ask=ask,
                queued_ms=outcome.queued_ms,
                handled_ms=outcome.ran_ms,
                assistant_ms=float(answer["latency_ms"]),
                answer=answer_key(answer),
                staff=reads_staff_documents(answer, self.seed),
                finished=time.monotonic(),
            )
            with self.tally.lock:
                self.tally.asked.append(asked)
            return
        self.tally.error(f"user {self.user}: no replica answered {ask.question!r}")


def run_citizen(
    replicas: Sequence[Replica],
    user: int,
    questions: Sequence[Ask],
    seed: Collection[str],
    tally: Tally,
    stop: float,
) -> None:
    rng = random.Random(SEED + user)
    citizen = _Citizen(replicas, user, tally, seed)
    try:
        for question in questions:
            if time.monotonic() > stop:
                tally.error(f"user {user}: the load's deadline passed before all questions")
                return
            citizen.ask(question)
            time.sleep(rng.uniform(0, THINK_TIME_S))
    finally:
        citizen.close()
