"""``qa-assistant deploy-check``: the deployment of docs/DEPLOY.md, started and loaded on loopback.

It starts one ``chroma run`` and N ``qa-assistant serve`` replicas sharing it and one documents
folder (each replica with its own index folder for the lexical cache), then, all at once and each
bounded in count and time:

* citizens: ``users`` threads ask ``questions`` questions each over the ``ask`` API, spread over
  the replicas, each citizen its own questions from a pool of many (:mod:`.questions`), as
  citizens ask different things; each keeps its page session on a replica between questions,
  as a browser tab does; like a reverse proxy, a request that cannot reach a replica goes to
  the next one (a failover, counted), and only a request no replica answers is an error;
* staff: documents are uploaded through the replicas in turn, and every second one deleted again
  through another replica;
* a crash: a large upload is started on replica 0, which is SIGKILLed once the file is saved and
  its ingest under way, then restarted (``serve --ingest`` finishes what it began).

At the end the shared store must hold exactly what one clean sequential ingest of the final
documents folder gives: the same documents and versions, the same chunk ids, no orphans; and
every answer given under load must equal the one the same question gets asked alone, where the
staff's changes do not change that answer: the question asked alone before the load and
after it gets the same answer, and the answer under load read none of the uploads.

Each question's time is split as the client sees it: waiting in the page's queue, then the
handler, of which the assistant's own work is the answer's ``latency_ms``. The learned stage's
models count the calls their caches answered; each replica prints its counts when signalled
(``SIGUSR1``), before the load and after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .._index import ChromaIndex
from .._onnx_runtime import CacheCounts
from ..cli import CACHE_COUNTS_LINE
from ..drivers.chroma_server import free_port, local_chroma_server
from ..drivers.page_client import PageSession, Timing
from ..errors import QAError
from ..settings import Settings
from .questions import Ask, deal, question_pool

__all__ = ["DeployCheckConfig", "DeployCheckReport", "run_deploy_check"]

COLLECTION = "qa_deploy_check"
PASSWORD = "deploy-check"  # staff log in through the page, as behind a proxy
READY_TIMEOUT_S = 300.0  # a replica's start: model load, and an ingest that may wait for the lease
SAVE_TIMEOUT_S = 60.0  # from a large upload's start until its file is saved
KILL_AFTER_SAVE_S = 1.0  # into the ingest: past the lease and the first embedding batches
LARGE_ARTICLES = 400  # chunks enough that its ingest takes seconds, not milliseconds
THINK_TIME_S = 0.5  # longest pause of a citizen between two questions
STOP_TIMEOUT_S = 15.0
COUNTS_TIMEOUT_S = 10.0  # from the signal until the replica's counts are in its log
SEED = 7
_COMMUNES = ("Hòa Bình", "An Lạc", "Tân Phú", "Phú Hải", "Đông Xá", "Quảng Tân", "Bình Minh")


class DeployCheckError(QAError):
    """The deployment could not be started (the load's own failures are in the report)."""


@dataclass(frozen=True)
class DeployCheckConfig:
    documents: Path  # the folder the replicas start from (copied; never written)
    question_set: Path  # the evaluation set over those documents: the pool's first questions
    workdir: Path | None = None  # kept for inspection when given; a temporary folder otherwise
    replicas: int = 2
    users: int = 50
    questions: int = 4  # per user
    uploads: int = 4
    kill: bool = True
    feedback_url: str | None = None
    deadline_s: float = 900.0  # the load as a whole; what is still running then is an error


@dataclass(frozen=True)
class DeployCheckReport:
    replicas: int
    users: int
    asks: int
    distinct: int  # different questions among them (a follow-up with its conversation)
    failovers: int
    errors: tuple[str, ...]
    latency: Timing  # from sending the question to its answer
    queued: Timing  # in the page's queue, until a worker started it
    handled: Timing  # from then until the answer came back
    assistant: Timing  # the assistant's own work (the answer's latency_ms)
    throughput_qps: float  # answers per second while the citizens asked
    # Per learned-stage model, its calls during the load, summed over the replicas that ran at
    # its end (a restarted one's since its restart); empty where no model or no count.
    cached: dict[str, CacheCounts]
    compared: int  # answers under load compared with the same question asked alone
    mismatches: tuple[str, ...]
    settings: dict[str, Any]  # the serving settings every replica ran with
    peak_rss_mb: tuple[float, ...]  # each running replica's peak memory, where it can be read
    uploads: int
    deletes: int
    killed_mid_ingest: bool | None  # None: no crash asked for
    restart_s: float | None
    documents: int
    chunks: int
    differences: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and not self.differences
            and not self.mismatches
            and self.killed_mid_ingest is not False
        )

    def format(self) -> str:
        if self.killed_mid_ingest is None:
            crash = "not asked for"
        else:
            when = "mid-ingest" if self.killed_mid_ingest else "only AFTER its ingest"
            back = (
                f"back in {self.restart_s:.1f} s"
                if self.restart_s is not None
                else "never came back"
            )
            crash = f"replica 0 SIGKILLed {when}, {back}"
        memory = ", ".join(f"{mb:.0f} MB" for mb in self.peak_rss_mb) or "unknown"
        cached = "; ".join(
            f"{_MODEL_NAMES.get(name, name)} {c.hits} of {c.hits + c.misses} calls"
            f" ({c.hits / max(c.hits + c.misses, 1):.0%})"
            for name, c in self.cached.items()
        )
        lines = [
            f"replicas {self.replicas}, citizens {self.users}, questions asked {self.asks} "
            f"({self.distinct} distinct)",
            "settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()),
            f"ask latency {self.latency}; throughput {self.throughput_qps:.1f} questions/s; "
            f"failovers {self.failovers}",
            f"  waiting in the queue {self.queued}; handling {self.handled}, "
            f"of which the assistant {self.assistant}",
            f"learned stage answered from its caches: {cached or 'no counts'}",
            f"answers under load: {self.compared} compared with the question asked alone, "
            f"{len(self.mismatches)} differ",
            f"replicas' peak memory: {memory}",
            f"staff: {self.uploads} uploads and {self.deletes} deletes committed",
            f"crash: {crash}",
            f"final store: {self.documents} documents, {self.chunks} chunks; "
            + (
                "equal to a clean sequential ingest"
                if not self.differences
                else f"{len(self.differences)} differences from a clean sequential ingest"
            ),
            f"errors: {len(self.errors)}",
            *(f"  error: {e}" for e in self.errors[:20]),
            *(f"  difference: {d}" for d in self.differences[:20]),
            *(f"  differs from alone: {m}" for m in self.mismatches[:20]),
            f"took {self.seconds:.0f} s: {'PASS' if self.ok else 'FAIL'}",
        ]
        return "\n".join(lines)


_MODEL_NAMES = {"relevance": "relevance model", "reader": "answer reader"}


class _Replica:
    """One ``qa-assistant serve`` process on loopback."""

    def __init__(self, number: int, workdir: Path, env: dict[str, str]) -> None:
        self.number = number
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"replica-{number}.log"
        self.env = {**env, "QA_INDEX_DIR": str(workdir / f"replica-{number}")}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        cmd = [sys.executable, "-m", "qa_assistant", "serve", "--ingest"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    def wait_ready(self) -> float:
        started = time.monotonic()
        while time.monotonic() - started < READY_TIMEOUT_S:
            if self.proc is None or self.proc.poll() is not None:
                raise DeployCheckError(f"Replica {self.number} exited; see {self.log}.")
            try:
                if httpx.get(f"{self.url}/config", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise DeployCheckError(
            f"Replica {self.number} did not serve within {READY_TIMEOUT_S:.0f} s; see {self.log}."
        )

    def peak_rss_mb(self) -> float | None:
        """The process's peak resident memory so far (Linux), None where it cannot be read."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text(encoding="utf-8")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def cache_counts(self) -> dict[str, CacheCounts] | None:
        """The learned stage's cache counts since this process started, None where the replica
        is down or does not answer the signal in time."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        seen = self.log.stat().st_size
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + COUNTS_TIMEOUT_S
        while time.monotonic() < deadline:
            with self.log.open("rb") as log:
                log.seek(seen)
                for line in log.read().decode("utf-8", "replace").splitlines():
                    if line.startswith(CACHE_COUNTS_LINE):
                        counts = json.loads(line[len(CACHE_COUNTS_LINE) :])
                        return {name: CacheCounts(**c) for name, c in counts.items()}
            time.sleep(0.1)
        return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass(frozen=True)
class _Asked:
    """One question answered under load, and where its time went."""

    ask: Ask
    queued_ms: float
    handled_ms: float
    assistant_ms: float
    answer: str  # what must not change under load: see _answer_key
    staff: bool  # its passages included a document staff uploaded (see _reads_staff_documents)
    finished: float  # time.monotonic() when the answer came

    @property
    def latency_ms(self) -> float:
        return self.queued_ms + self.handled_ms


@dataclass
class _Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    asked: list[_Asked] = field(default_factory=list)
    failovers: int = 0
    errors: list[str] = field(default_factory=list)
    uploads: int = 0
    deletes: int = 0

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


@dataclass(frozen=True)
class _Counted:
    """A replica's cache counts, and which of its starts they belong to."""

    starts: int
    counts: dict[str, CacheCounts]


def _counted(replicas: Sequence[_Replica]) -> list[_Counted | None]:
    return [None if (c := r.cache_counts()) is None else _Counted(r.starts, c) for r in replicas]


def _cached_during(
    before: Sequence[_Counted | None], after: Sequence[_Counted | None]
) -> dict[str, CacheCounts]:
    """Each model's calls between the two counts, summed over the replicas; a replica that
    restarted in between counts from its restart."""
    total: dict[str, CacheCounts] = {}
    for then, now in zip(before, after, strict=True):
        if now is None:
            continue
        for name, c in now.counts.items():
            if then is not None and then.starts == now.starts and name in then.counts:
                c = CacheCounts(
                    c.hits - then.counts[name].hits, c.misses - then.counts[name].misses
                )
            t = total.get(name, CacheCounts(0, 0))
            total[name] = CacheCounts(t.hits + c.hits, t.misses + c.misses)
    return total


def _policy_text(n: int, articles: int = 3) -> tuple[str, str]:
    """A small decree of a commune, with one fact a citizen can ask about; and that question."""
    commune = f"{_COMMUNES[n % len(_COMMUNES)]} {n}"
    amount = 3 + n
    body = [
        f"Quyết định của Ủy ban nhân dân xã {commune} về hỗ trợ hộ nghèo năm 2026",
        f"Điều 1. Ủy ban nhân dân xã {commune} hỗ trợ {amount} triệu đồng cho mỗi hộ nghèo "
        "để sửa chữa nhà ở trước mùa mưa bão.",
    ]
    body += [
        f"Điều {i}. Các thôn của xã {commune} lập danh sách hộ được hỗ trợ đợt {i}, niêm yết "
        f"công khai tại nhà văn hoá trong {i + 4} ngày và gửi về xã trước ngày {i % 28 + 1}."
        for i in range(2, articles + 2)
    ]
    return "\n\n".join(body) + "\n", f"Xã {commune} hỗ trợ mỗi hộ nghèo bao nhiêu tiền để sửa nhà?"


def _committed(index: ChromaIndex) -> set[str]:
    return {d.source for d in index.documents()}


def _reads_staff_documents(answer: dict[str, Any], seed: Collection[str]) -> bool:
    """Whether the answer's passages include a document not in the folder the replicas
    started from: an answer given while staff upload and delete may then differ from the
    question asked alone both before and after (an upload deleted again, the word weights of
    a store between the two), so it is not held to them."""
    return any(h["source"] not in seed for h in answer.get("retrieved", []))


def _answer_key(answer: dict[str, Any]) -> str:
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
        self, replicas: Sequence[_Replica], user: int, tally: _Tally, seed: Collection[str]
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

    def _page(self, replica: _Replica) -> PageSession:
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
            asked = _Asked(
                ask=ask,
                queued_ms=outcome.queued_ms,
                handled_ms=outcome.ran_ms,
                assistant_ms=float(answer["latency_ms"]),
                answer=_answer_key(answer),
                staff=_reads_staff_documents(answer, self.seed),
                finished=time.monotonic(),
            )
            with self.tally.lock:
                self.tally.asked.append(asked)
            return
        self.tally.error(f"user {self.user}: no replica answered {ask.question!r}")


def _citizen(
    replicas: Sequence[_Replica],
    user: int,
    questions: Sequence[Ask],
    seed: Collection[str],
    tally: _Tally,
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


def _alone(replica: _Replica, asks: Sequence[Ask]) -> dict[Ask, str]:
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
            answers[ask] = _answer_key(outcome.data[0])
        return answers


def _mismatches(
    asked: Sequence[_Asked], before: dict[Ask, str], after: dict[Ask, str]
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


def _staff_session(replica: _Replica) -> PageSession:
    page = PageSession(replica.url)
    page.load([None])
    if not page.trigger("qa-login", "click", [PASSWORD]).success:
        page.close()
        raise DeployCheckError(f"Staff login failed on replica {replica.number}.")
    return page


def _upload(replica: _Replica, path: Path) -> bool:
    with _staff_session(replica) as page:
        return page.trigger("qa-upload-btn", "click", [page.upload_files(path), None]).success


def _delete(replica: _Replica, source: str) -> bool:
    with _staff_session(replica) as page:
        return page.trigger("qa-delete", "click", [source, None]).success


def _staff_action(
    replicas: Sequence[_Replica],
    first: int,
    what: str,
    act: Callable[[_Replica], bool],
    done: Callable[[], bool],
    tally: _Tally,
) -> bool:
    """Runs a staff action on replica ``first``, on the next one if it cannot be reached.

    As behind a proxy: an action whose replica dies under it may or may not have happened, so
    the store is asked before the next replica tries again.
    """
    for i in range(len(replicas)):
        replica = replicas[(first + i) % len(replicas)]
        try:
            acted = act(replica)
        except httpx.TransportError:
            with tally.lock:
                tally.failovers += 1
            if done():
                return True
            continue
        except DeployCheckError as exc:
            tally.error(f"staff {what} on replica {replica.number}: {exc}")
            return False
        if acted and done():
            return True
        tally.error(f"staff {what} on replica {replica.number} was not committed")
        return False
    tally.error(f"staff {what}: no replica could be reached")
    return False


def _staff(
    replicas: Sequence[_Replica],
    staging: Path,
    uploads: int,
    store: ChromaIndex,
    tally: _Tally,
    stop: float,
) -> None:
    for n in range(uploads):
        if time.monotonic() > stop:
            tally.error("staff: the load's deadline passed before all uploads")
            return
        _staff_round(replicas, staging, n, store, tally)


def _staff_round(
    replicas: Sequence[_Replica], staging: Path, n: int, store: ChromaIndex, tally: _Tally
) -> None:
    """Upload document ``n``; every second one leaves again, through another replica."""
    text, _ = _policy_text(n)
    path = staging / f"xa-{n}-ho-tro-sua-nha.txt"
    path.write_text(text, encoding="utf-8")
    if not _staff_action(
        replicas,
        n,
        f"upload {path.name}",
        lambda r: _upload(r, path),
        lambda: path.name in _committed(store),
        tally,
    ):
        return
    with tally.lock:
        tally.uploads += 1
    if n % 2 == 1 and _staff_action(
        replicas,
        n + 1,
        f"delete {path.name}",
        lambda r: _delete(r, path.name),
        lambda: path.name not in _committed(store),
        tally,
    ):
        with tally.lock:
            tally.deletes += 1


def _crash(
    replica: _Replica, staging: Path, documents: Path, store: ChromaIndex, tally: _Tally
) -> tuple[bool, float | None]:
    """SIGKILLs ``replica`` during a large upload's ingest; restarts it. (mid-ingest?, restart s)"""
    text, _ = _policy_text(99, articles=LARGE_ARTICLES)
    path = staging / "xa-lon-ho-tro-sua-nha.txt"
    path.write_text(text, encoding="utf-8")
    # The upload's request dies with the replica: its thread only has to end.
    thread = threading.Thread(target=_quiet_upload, args=(replica, path), daemon=True)
    thread.start()
    deadline = time.monotonic() + SAVE_TIMEOUT_S
    while not (documents / path.name).exists():
        if time.monotonic() > deadline:
            tally.error(f"the large upload was not saved on replica {replica.number}")
            return False, None
        time.sleep(0.05)
    time.sleep(KILL_AFTER_SAVE_S)
    replica.kill()
    mid_ingest = path.name not in _committed(store)
    thread.join(timeout=STOP_TIMEOUT_S)
    replica.start()
    try:
        restart_s = replica.wait_ready()
    except DeployCheckError as exc:
        tally.error(str(exc))
        return mid_ingest, None
    if path.name not in _committed(store):
        tally.error("the restarted replica did not finish the interrupted ingest")
    return mid_ingest, restart_s


def _quiet_upload(replica: _Replica, path: Path) -> None:
    # The replica is killed under it, on purpose.
    with contextlib.suppress(httpx.TransportError, DeployCheckError):
        _upload(replica, path)


def _store_shape(index: ChromaIndex) -> tuple[dict[str, tuple[str, int]], dict[str, str]]:
    """source -> (version, chunks) of the registry; chunk id -> owning source."""
    registry = {d.source: (d.content_hash, d.chunks) for d in index.documents()}
    owners = {cid: source for cid, (source, _) in index.chunk_owners().items()}
    return registry, owners


def _differences(served: ChromaIndex, reference: ChromaIndex) -> list[str]:
    got, got_owners = _store_shape(served)
    want, want_owners = _store_shape(reference)
    problems = [f"{s}: in the store, not in a clean ingest" for s in sorted(got.keys() - want)]
    problems += [f"{s}: missing from the store" for s in sorted(want.keys() - got)]
    problems += [
        f"{s}: version/chunks {got[s]} in the store, {want[s]} from a clean ingest"
        for s in sorted(got.keys() & want.keys())
        if got[s] != want[s]
    ]
    if extra := got_owners.keys() - want_owners.keys():
        problems.append(f"{len(extra)} chunk ids not made by a clean ingest, e.g. {min(extra)}")
    if missing := want_owners.keys() - got_owners.keys():
        problems.append(f"{len(missing)} chunk ids missing, e.g. {min(missing)}")
    counted: dict[str, int] = {}
    for source in got_owners.values():
        counted[source] = counted.get(source, 0) + 1
    problems += [
        f"{s}: {counted.get(s, 0)} chunks stored, the registry says {chunks}"
        for s, (_, chunks) in sorted(got.items())
        if counted.get(s, 0) != chunks
    ]
    return problems


@contextmanager
def _workdir(config: DeployCheckConfig) -> Iterator[Path]:
    if config.workdir is not None:
        config.workdir.mkdir(parents=True, exist_ok=True)
        yield config.workdir
        return
    with tempfile.TemporaryDirectory(prefix="qa-deploy-check-") as tmp:
        yield Path(tmp)


def run_deploy_check(config: DeployCheckConfig, settings: Settings) -> DeployCheckReport:
    """Runs the check; ``settings`` are those the replicas read from the same environment."""
    started = time.monotonic()
    with _workdir(config) as work, ExitStack() as stack:
        documents, staging = work / "documents", work / "staging"
        shutil.rmtree(documents, ignore_errors=True)
        shutil.copytree(config.documents, documents)
        staging.mkdir(exist_ok=True)
        chroma_url = stack.enter_context(local_chroma_server(work / "chroma"))
        env = {
            **os.environ,
            "QA_CHROMA_URL": chroma_url,
            "QA_COLLECTION": COLLECTION,
            "QA_DOCUMENTS_DIR": str(documents),
            "QA_ADMIN_PASSWORD": PASSWORD,
            "ANONYMIZED_TELEMETRY": "False",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        if config.feedback_url:
            env["QA_FEEDBACK__URL"] = config.feedback_url
        replicas = [_Replica(n, work, env) for n in range(config.replicas)]
        for replica in replicas:
            stack.callback(replica.stop)
            replica.start()  # all at once: their first ingests race for the lease
        for replica in replicas:
            replica.wait_ready()
        store = ChromaIndex(work / "observer", collection=COLLECTION, chroma_url=chroma_url)
        seed = frozenset(_committed(store))

        tally = _Tally()
        about_uploads = [Ask(_policy_text(n)[1]) for n in range(config.uploads)]
        pool = (*question_pool(config.question_set), *about_uploads)
        hands = deal(pool, config.users, config.questions, random.Random(SEED))
        drawn = list(dict.fromkeys(a for hand in hands for a in hand))
        # Asked on replica 0, which the crash then kills: the load meets caches as cold as a
        # new deployment's, not warmed by these very questions.
        alone_before = _alone(replicas[0], drawn)
        counted_before = _counted(replicas)
        stop = time.monotonic() + config.deadline_s
        load_started = time.monotonic()
        with ThreadPoolExecutor(max_workers=config.users + 1) as pool_threads:
            futures = [
                pool_threads.submit(_citizen, replicas, user, hand, seed, tally, stop)
                for user, hand in enumerate(hands)
            ]
            futures.append(
                pool_threads.submit(_staff, replicas, staging, config.uploads, store, tally, stop)
            )
            crash: tuple[bool | None, float | None] = (None, None)
            if config.kill:
                crash = _crash(replicas[0], staging, documents, store, tally)
            for future in futures:
                future.result(timeout=max(1.0, stop - time.monotonic()) + READY_TIMEOUT_S)
        cached = _cached_during(counted_before, _counted(replicas))
        time.sleep(settings.replicas.check_s + 0.5)  # the replica takes in the last commits
        alone_after = _alone(replicas[-1], drawn)
        compared, mismatches = _mismatches(tally.asked, alone_before, alone_after)
        peak_rss = tuple(mb for r in replicas if (mb := r.peak_rss_mb()) is not None)
        for replica in replicas:
            replica.stop()

        # The replicas' other settings (QA_MODEL …) come from the same environment.
        reference_settings = settings.model_copy(
            update={
                "index_dir": work / "reference",
                "documents_dir": documents,
                "collection": COLLECTION,
                "chroma_url": None,
            }
        )
        from ..assistant import Assistant

        shutil.rmtree(reference_settings.index_dir, ignore_errors=True)
        reference = Assistant(reference_settings)
        try:
            reference.ingest()
            differences = _differences(store, reference.index)
        finally:
            reference.close()
        docs = store.documents()
        asked = tally.asked
        load_s = max((a.finished for a in asked), default=load_started) - load_started
        return DeployCheckReport(
            replicas=config.replicas,
            users=config.users,
            asks=len(asked),
            distinct=len({a.ask for a in asked}),
            failovers=tally.failovers,
            errors=tuple(tally.errors),
            latency=Timing.of([a.latency_ms for a in asked]),
            queued=Timing.of([a.queued_ms for a in asked]),
            handled=Timing.of([a.handled_ms for a in asked]),
            assistant=Timing.of([a.assistant_ms for a in asked]),
            throughput_qps=len(asked) / load_s if load_s > 0 else 0.0,
            cached=cached,
            compared=compared,
            mismatches=tuple(mismatches),
            settings={
                **settings.serving.model_dump(),
                "learned_stage": settings.relevance.mode,
            },
            peak_rss_mb=peak_rss,
            uploads=tally.uploads,
            deletes=tally.deletes,
            killed_mid_ingest=crash[0],
            restart_s=crash[1],
            documents=len(docs),
            chunks=sum(d.chunks for d in docs),
            differences=tuple(differences),
            seconds=time.monotonic() - started,
        )
