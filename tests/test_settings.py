"""Settings: the renamed names still read, and docs/SETTINGS.md is what the model renders."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from pydantic import BaseModel

from qa_assistant.settings import _RENAMED, Settings, SpanSettings
from qa_assistant.tuning.settings_doc import render

SETTINGS_MD = Path(__file__).resolve().parent.parent / "docs" / "SETTINGS.md"


def _settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_grouped_names_reach_their_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_LLM__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("QA_STAFF__SESSION_IDLE_MINUTES", "3")
    monkeypatch.setenv("QA_FEEDBACK__CONNECT_TIMEOUT_S", "9")
    settings = _settings()
    assert settings.llm.base_url == "http://127.0.0.1:9/v1"
    assert settings.staff.session_idle_minutes == 3
    assert settings.feedback.connect_timeout_s == 9


@pytest.mark.parametrize(
    ("old", "new", "value", "read"),
    [
        ("QA_LLM_API_KEY", "QA_LLM__API_KEY", "sk-1", lambda s: s.llm.api_key.get_secret_value()),
        (
            "QA_LOGIN_MAX_FAILURES",
            "QA_STAFF__LOGIN_MAX_FAILURES",
            "7",
            lambda s: s.staff.login_max_failures,
        ),
        (
            "QA_FEEDBACK_URL",
            "QA_FEEDBACK__URL",
            "postgresql://db/qa",
            lambda s: s.feedback.url.get_secret_value(),
        ),
        (
            "QA_RETRIEVAL__RERANK_DEPTH",
            "QA_RETRIEVAL__EVIDENCE_DEPTH",
            "7",
            lambda s: s.retrieval.evidence_depth,
        ),
        (
            "QA_RELEVANCE__RERANK",
            "QA_RELEVANCE__EVERY_QUESTION",
            "true",
            lambda s: str(s.relevance.every_question).lower(),
        ),
        (
            "QA_READER__SELECT_MARGIN",
            "QA_SPAN__SELECT_MARGIN",
            "1.5",
            lambda s: s.span.select_margin,
        ),
    ],
)
def test_an_old_name_is_read_with_a_warning_that_names_the_new_one(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str, value: str, read: object
) -> None:
    monkeypatch.setenv(old, value)
    with pytest.warns(FutureWarning, match=f"{old} is renamed {new}"):
        settings = _settings()
    assert str(read(settings)) == value  # type: ignore[operator]


def test_an_old_name_from_the_env_file_is_read_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("QA_STAFF_SESSION_IDLE_MINUTES=4\n", encoding="utf-8")
    with pytest.warns(FutureWarning, match="QA_STAFF__SESSION_IDLE_MINUTES"):
        assert Settings().staff.session_idle_minutes == 4


def test_the_grouped_name_wins_over_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_LLM_MODEL", "old")
    monkeypatch.setenv("QA_LLM__MODEL", "new")
    with pytest.warns(FutureWarning):
        assert _settings().llm.model == "new"


def test_a_renamed_setting_s_new_name_wins_over_its_old_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QA_RETRIEVAL__RERANK_DEPTH", "3")
    monkeypatch.setenv("QA_RETRIEVAL__EVIDENCE_DEPTH", "9")
    with pytest.warns(FutureWarning):
        assert _settings().retrieval.evidence_depth == 9


def test_every_span_model_setting_is_read_by_its_old_name_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("QA_SPAN__ENABLED", raising=False)  # conftest turns it off
    old = {"enabled": "false", "passages": "3", "max_answer_tokens": "32", "weights": "w.st"}
    for name, value in old.items():
        monkeypatch.setenv(f"QA_READER__{name.upper()}", value)
    with pytest.warns(FutureWarning) as warned:
        span = _settings().span
    assert {str(w.message).split()[0] for w in warned} == {f"QA_READER__{n.upper()}" for n in old}
    assert (span.enabled, span.passages, span.max_answer_tokens) == (False, 3, 32)
    assert span.weights == Path("w.st")
    renamed = {new for (group, new) in _RENAMED.values() if group == "span"}
    assert renamed == set(SpanSettings.model_fields)


def test_every_setting_says_what_it_does() -> None:
    groups: list[type[BaseModel]] = [Settings]
    for field in Settings.model_fields.values():
        if inspect.isclass(field.annotation) and issubclass(field.annotation, BaseModel):
            groups.append(field.annotation)
    undocumented = [
        f"{group.__name__}.{name}"
        for group in groups
        for name, field in group.model_fields.items()
        if not field.description
    ]
    assert undocumented == []


def test_the_settings_reference_is_what_the_model_renders() -> None:
    # Regenerate with: python -m qa_assistant.tuning.settings_doc > docs/SETTINGS.md
    assert SETTINGS_MD.read_text(encoding="utf-8") == render()
