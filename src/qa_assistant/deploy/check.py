"""``qa-assistant deploy-check``: the deployment of docs/DEPLOY.md, started and loaded on loopback.

It starts one ``chroma run`` and N ``qa-assistant serve`` replicas (:mod:`.replicas`) sharing
it and one documents folder (each replica with its own index folder for the lexical cache),
then, all at once and each bounded in count and time:

* citizens (:mod:`.load`): ``users`` threads ask ``questions`` questions each over the ``ask``
  API, spread over the replicas, each citizen its own questions from a pool of many
  (:mod:`.questions`), as citizens ask different things; each keeps its page session on a
  replica between questions, as a browser tab does; like a reverse proxy, a request that cannot
  reach a replica goes to the next one (a failover, counted), and only a request no replica
  answers is an error;
* staff (:mod:`.staff`): documents are uploaded through the replicas in turn, and every second
  one deleted again through another replica;
* a crash (:mod:`.crash`): a large upload is started on replica 0, which is SIGKILLed once the
  file is saved and its ingest under way, then restarted (``serve --ingest`` serves at once and
  finishes what it began meanwhile).

At the end the shared store must hold exactly what one clean sequential ingest of the final
documents folder gives: the same documents and versions, the same chunk ids, no orphans
(:mod:`.store_diff`); and every answer given under load must equal the one the same question
gets asked alone, where the staff's changes do not change that answer: the question asked alone
before the load and after it gets the same answer, and the answer under load read none of the
uploads (:mod:`.answers`).

Each question's time is split as the client sees it: waiting in the page's queue, then the
handler, of which the assistant's own work is the answer's ``latency_ms``. The
models count the calls their caches answered; each replica prints its counts when signalled
(``SIGUSR1``), before the load and after it. The report is :mod:`.report`'s.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .._store.index import ChromaIndex
from ..drivers.chroma_server import local_chroma_server
from ..drivers.page_client import Timing
from ..settings import Settings
from .answers import answer_mismatches, asked_alone
from .crash import crash_mid_ingest
from .load import SEED, Tally, run_citizen
from .questions import Ask, deal, question_pool
from .replicas import READY_TIMEOUT_S, Replica, cache_counts_of, cached_during
from .report import DeployCheckReport
from .staff import PASSWORD, committed_sources, policy_text, run_staff
from .store_diff import store_differences

__all__ = ["DeployCheckConfig", "run_deploy_check"]

COLLECTION = "qa_deploy_check"


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
        replicas = [Replica(n, work, env) for n in range(config.replicas)]
        for replica in replicas:
            stack.callback(replica.stop)
            replica.start()  # all at once: their first ingests race for the lease
        for replica in replicas:
            replica.wait_ready()
        store = ChromaIndex(work / "observer", collection=COLLECTION, chroma_url=chroma_url)
        seed = frozenset(committed_sources(store))

        tally = Tally()
        about_uploads = [Ask(policy_text(n)[1]) for n in range(config.uploads)]
        pool = (*question_pool(config.question_set), *about_uploads)
        hands = deal(pool, config.users, config.questions, random.Random(SEED))
        drawn = list(dict.fromkeys(a for hand in hands for a in hand))
        # Asked on replica 0, which the crash then kills: the load meets caches as cold as a
        # new deployment's, not warmed by these very questions.
        alone_before = asked_alone(replicas[0], drawn)
        counted_before = cache_counts_of(replicas)
        stop = time.monotonic() + config.deadline_s
        load_started = time.monotonic()
        with ThreadPoolExecutor(max_workers=config.users + 1) as pool_threads:
            futures = [
                pool_threads.submit(run_citizen, replicas, user, hand, seed, tally, stop)
                for user, hand in enumerate(hands)
            ]
            futures.append(
                pool_threads.submit(
                    run_staff, replicas, staging, config.uploads, store, tally, stop
                )
            )
            crash: tuple[bool | None, float | None, float | None] = (None, None, None)
            if config.kill:
                crash = crash_mid_ingest(replicas[0], staging, documents, store, tally)
            for future in futures:
                future.result(timeout=max(1.0, stop - time.monotonic()) + READY_TIMEOUT_S)
        cached = cached_during(counted_before, cache_counts_of(replicas))
        time.sleep(settings.replicas.check_s + 0.5)  # the replica takes in the last commits
        alone_after = asked_alone(replicas[-1], drawn)
        compared, mismatches = answer_mismatches(tally.asked, alone_before, alone_after)
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
            differences = store_differences(store, reference.index)
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
                "relevance_model": settings.relevance.mode,
            },
            peak_rss_mb=peak_rss,
            uploads=tally.uploads,
            deletes=tally.deletes,
            killed_mid_ingest=crash[0],
            restart_s=crash[1],
            committed_s=crash[2],
            documents=len(docs),
            chunks=sum(d.chunks for d in docs),
            differences=tuple(differences),
            seconds=time.monotonic() - started,
        )
