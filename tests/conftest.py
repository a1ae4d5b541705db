"""Shared fixtures: a copy of the seed documents, an assistant on the fake embedder, and a
throwaway PostgreSQL server for the tests marked ``postgres``."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Nothing in the tests may reach the network: no telemetry, no model hub.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The tests on the fake embedder run the fast path: the relevance model is a real
# model, built from the default one (about 40 s). Tests of the relevance model pass a
# FakeRelevanceModel or, marked integration, turn the real model on; subprocesses inherit this.
os.environ.setdefault("QA_RELEVANCE__ENABLED", "false")
# Likewise the span model (about a minute to build): its tests pass a fake span model or turn
# the real one on.
os.environ.setdefault("QA_SPAN__ENABLED", "false")
# And the answerability model (built as the relevance model is): its tests pass a fake.
os.environ.setdefault("QA_ANSWERABILITY__ENABLED", "false")

from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder
from support.postgres import Cluster, postgres_bindir, remove_cluster, start_cluster

ROOT = Path(__file__).resolve().parent.parent
SEED_DOCUMENTS = ROOT / "documents"
TET_QUESTION = "Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?"


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "documents"
    shutil.copytree(SEED_DOCUMENTS, folder)
    return folder


@pytest.fixture
def settings(tmp_path: Path, docs_dir: Path) -> Settings:
    return Settings(
        documents_dir=docs_dir,
        index_dir=tmp_path / "index",
        cache_dir=tmp_path / "cache",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def assistant(settings: Settings) -> Iterator[Assistant]:
    a = Assistant(settings, embedder=FakeEmbedder())
    yield a
    a.close()


@pytest.fixture
def ingested(assistant: Assistant) -> Assistant:
    report = assistant.ingest()
    assert report.failed == ()
    return assistant


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A PostgreSQL server for the whole run, removed at the end.

    Without the server's binaries the tests skip, except under CI=true, where that is a
    failure: CI must never pass by skipping them.
    """
    bindir = postgres_bindir()
    if bindir is None:
        reason = (
            "PostgreSQL's initdb is missing: run scripts/install-postgres.sh "
            "(apt-get install postgresql, needs root)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = start_cluster(bindir)
    yield cluster
    remove_cluster(cluster)


_database_numbers = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> str:
    """The URL of a new, empty database on the test server (one per test)."""
    return postgres_cluster.create_database(f"qa_test_{next(_database_numbers)}")
