"""The CLI, with the assistant built on the fake embedder."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import TET_QUESTION
from qa_assistant import cli
from qa_assistant.assistant import Assistant
from qa_assistant.settings import RelevanceSettings, RetrievalSettings, Settings
from qa_assistant.testing import FakeEmbedder
from qa_assistant.types import IngestReport


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> CliRunner:
    monkeypatch.setenv("QA_DOCUMENTS_DIR", str(settings.documents_dir))
    monkeypatch.setenv("QA_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setenv("QA_CACHE_DIR", str(settings.cache_dir))
    monkeypatch.setattr(cli, "_assistant", lambda s: Assistant(s, embedder=FakeEmbedder()))
    return CliRunner()


def test_ingest_json_report(runner: CliRunner) -> None:
    result = runner.invoke(cli.main, ["ingest", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= {
        "documents",
        "chunks",
        "added",
        "updated",
        "removed",
        "skipped",
        "failed",
        "seconds",
    }
    assert report["documents"] == 2 and report["added"] == 2 and report["failed"] == []
    again = json.loads(runner.invoke(cli.main, ["ingest", "--json"]).stdout)
    assert again["chunks"] == report["chunks"] and again["skipped"] == 2


def test_ingest_reports_failed_files(runner: CliRunner, settings: Settings) -> None:
    (settings.documents_dir / "empty.txt").write_bytes(b"")
    report = json.loads(runner.invoke(cli.main, ["ingest", "--json"]).stdout)
    assert [Path(f["path"]).name for f in report["failed"]] == ["empty.txt"]
    assert report["failed"][0]["error"]


def test_ask_json(runner: CliRunner) -> None:
    runner.invoke(cli.main, ["ingest"])
    result = runner.invoke(cli.main, ["ask", "--json", TET_QUESTION])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "10 triệu đồng" in data["answer"] and not data["abstained"]
    assert data["citations"] and len(data["retrieved"]) >= 1


def test_ask_text_shows_citations(runner: CliRunner) -> None:
    runner.invoke(cli.main, ["ingest"])
    result = runner.invoke(cli.main, ["ask", TET_QUESTION])
    assert "[1]" in result.stdout and "“" in result.stdout


def test_ask_on_empty_index_says_what_to_do(runner: CliRunner) -> None:
    result = runner.invoke(cli.main, ["ask", TET_QUESTION])
    assert result.exit_code == 1
    assert "qa-assistant ingest" in result.output
    assert "Traceback" not in result.output


def test_bad_date_filter_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli.main, ["ask", "--from", "01/02/2026", TET_QUESTION])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output


def test_feedback_export_writes_rows(runner: CliRunner, settings: Settings) -> None:
    from qa_assistant._state.feedback import FeedbackStore, feedback_path
    from qa_assistant.types import Answer

    store = FeedbackStore(feedback_path(settings.index_dir))
    store.record(Answer("Hỏi gì?", "Trả lời.", abstained=False), "down", comment="sai")
    store.record(Answer("Câu khác?", "Đúng.", abstained=False), "up")
    result = runner.invoke(cli.main, ["feedback", "export", "--rating", "down"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 1
    assert rows[0]["question"] == "Hỏi gì?" and rows[0]["comment"] == "sai"


def _tet_question_file(tmp_path: Path) -> Path:
    qfile = tmp_path / "q.jsonl"
    line = {
        "id": "q1",
        "question": TET_QUESTION,
        "answers": ["10 triệu đồng"],
        "evidence": [],
        "sources": [],
        "answerable": True,
    }
    qfile.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    return qfile


def test_eval_can_strip_diacritics(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(cli.main, ["ingest"])
    qfile = _tet_question_file(tmp_path)
    out = tmp_path / "out"
    args = ["eval", str(qfile), "--output", str(out), "--strip-diacritics"]
    result = runner.invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    row = json.loads((out / "results.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert row["question"] == "Quang Ninh ho tro moi thon bao nhieu tien de don Tet?"
    assert "10 triệu đồng" in row["answer"]
    assert json.loads((out / "summary.json").read_text())["config"]["diacritics"] == "stripped"


def test_eval_summary_records_the_tuned_values_and_masks_secrets(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_RETRIEVAL__FUSION", "rrf")
    monkeypatch.setenv("QA_RETRIEVAL__EVIDENCE_DEPTH", "7")
    monkeypatch.setenv("QA_RETRIEVAL__SYLLABLE_WEIGHT", "0.25")
    monkeypatch.setenv("QA_ADMIN_PASSWORD", "mat-khau-quan-tri")
    monkeypatch.setenv("QA_LLM__API_KEY", "sk-khoa-bi-mat")
    monkeypatch.setenv("QA_FEEDBACK__URL", "postgresql://qa:pg-bi-mat@db:5432/qa")
    runner.invoke(cli.main, ["ingest"])
    out = tmp_path / "out"
    result = runner.invoke(
        cli.main, ["eval", str(_tet_question_file(tmp_path)), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = (out / "summary.json").read_text(encoding="utf-8")
    recorded = json.loads(text)["config"]["settings"]
    expected = RetrievalSettings.model_validate(
        {"fusion": "rrf", "evidence_depth": 7, "syllable_weight": 0.25}
    )
    assert recorded["retrieval"] == expected.model_dump(mode="json")
    assert recorded["relevance"]["depth"] == RelevanceSettings.model_validate({}).depth
    assert "mat-khau-quan-tri" not in text and "sk-khoa-bi-mat" not in text
    assert "pg-bi-mat" not in text
    assert recorded["admin_password"] == recorded["llm"]["api_key"] == "**********"
    assert recorded["feedback"]["url"] == "**********"


def test_eval_with_an_unknown_split_stops_and_names_the_splits(
    runner: CliRunner, tmp_path: Path
) -> None:
    qfile = tmp_path / "q.jsonl"
    line = {"id": "q1", "question": TET_QUESTION, "split": "dev"}
    qfile.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    args = ["eval", str(qfile), "--output", str(tmp_path / "out"), "--split", "holdout"]
    result = runner.invoke(cli.main, args)
    assert result.exit_code == 1
    assert "no questions in split 'holdout'" in result.output and "dev" in result.output


def test_the_help_lists_the_tooling_commands_and_a_typo_is_told_the_nearest() -> None:
    # The tooling's commands are registered by their subpackages, yet read as the runtime's do.
    result = CliRunner().invoke(cli.main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in (
        "ask",
        "ingest",
        "serve",
        "bench",
        "deploy-check",
        "train-relevance",
        "train-embedder",
        "train-span-model",
        "train-answerability",
    ):
        assert f"\n  {name} " in result.output, name
    typo = CliRunner().invoke(cli.main, ["benc"])
    assert typo.exit_code == 2 and "Did you mean 'bench'?" in typo.output


@pytest.mark.parametrize(
    ("old", "new", "command"),
    [
        ("train", "train-relevance", "train_relevance"),
        ("train-reader", "train-span-model", "train_span_model"),
    ],
)
def test_an_old_training_command_name_is_hidden_and_runs_the_renamed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, command: str
) -> None:
    from qa_assistant.training import commands

    ran: list[dict[str, object]] = []
    renamed = getattr(commands, command)
    monkeypatch.setattr(renamed, "callback", lambda **options: ran.append(options))
    result = CliRunner().invoke(cli.main, [old, "--data", str(tmp_path), "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert ran and ran[0]["seed"] == 7
    assert f"renamed {new}" in result.output
    assert f"\n  {old} " not in CliRunner().invoke(cli.main, ["--help"]).output


@pytest.mark.parametrize("answers_as_is", [True, False])
def test_serve_ingest_serves_at_once_where_the_store_answers_as_it_is(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, answers_as_is: bool
) -> None:
    # A replica restarted after a crash finishes its ingest while it serves the committed
    # documents; an empty store (or one embedded otherwise) has nothing to serve until then.
    events: list[str] = []
    serving, ingested = threading.Event(), threading.Event()

    def ingest(self: Assistant, *args: object, **kwargs: object) -> IngestReport:
        if answers_as_is:
            assert serving.wait(5)
        events.append("ingest")
        ingested.set()
        return IngestReport(documents=2, chunks=9)

    def serve(assistant: Assistant, settings: Settings) -> None:
        events.append("serve")
        serving.set()
        assert ingested.wait(5)

    monkeypatch.setattr(Assistant, "ingest", ingest)
    monkeypatch.setattr(Assistant, "is_stale", lambda self, folder=None: True)
    monkeypatch.setattr(Assistant, "answers_as_is", lambda self: answers_as_is)
    monkeypatch.setattr("qa_assistant._ui.serve", serve)
    monkeypatch.setattr(cli, "_warm_up", lambda assistant: None)
    result = runner.invoke(cli.main, ["serve", "--ingest"])
    assert result.exit_code == 0, result.output
    assert events == (["serve", "ingest"] if answers_as_is else ["ingest", "serve"])
