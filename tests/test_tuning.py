"""The scripts that chose the shipped settings (``qa_assistant.tuning``, run by ``eval/*.py``):
the leave-one-corpus-out rule on tables whose answer is known, and each script end to end on
small generated corpora with the fake embedder and span model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qa_assistant._loading import ocr as _ocr
from qa_assistant.testing import FakeEmbedder, FakeSpanModel
from qa_assistant.tuning import fusion, ocr, span_model, statements
from qa_assistant.tuning.loco import TIE, change, choose, folds
from support.tuning_corpora import write_corpora, write_statements

ROOT = Path(__file__).resolve().parent.parent
EVAL_SCRIPTS = sorted((ROOT / "eval").glob("*.py"))

# Setting "steady" is never best on a corpus but never bad; "spiky" has the best mean and one
# poor corpus; "close" trails "steady"'s worst by less than a tie, with a better mean.
TABLE = {
    "steady": {"a": 0.80, "b": 0.80, "c": 0.80},
    "spiky": {"a": 0.99, "b": 0.99, "c": 0.50},
    "poor": {"a": 0.60, "b": 0.70, "c": 0.70},
}


def test_choose_keeps_the_setting_whose_worst_corpus_is_best() -> None:
    assert choose(TABLE, ["a", "b", "c"]) == "steady"
    # Without its poor corpus, the spiky setting's worst is best.
    assert choose(TABLE, ["a", "b"]) == "spiky"
    assert choose(TABLE, ["a", "b", "c"], among=["spiky", "poor"]) == "poor"


def test_a_worst_corpus_within_a_tie_goes_to_the_better_mean() -> None:
    table = {**TABLE, "close": {"a": 0.90, "b": 0.90, "c": 0.80 - TIE / 2}}
    assert choose(table, ["a", "b", "c"]) == "close"
    table["close"]["c"] = 0.80 - 2 * TIE
    assert choose(table, ["a", "b", "c"]) == "steady"


def test_folds_choose_on_the_other_corpora_and_change_is_against_a_base() -> None:
    assert folds(TABLE, ["a", "b", "c"]) == {"a": "steady", "b": "steady", "c": "spiky"}
    assert change(TABLE, "steady")["poor"] == pytest.approx({"a": -0.2, "b": -0.1, "c": -0.1})


def test_eval_scripts_import_no_private_module_and_hack_no_path() -> None:
    private = re.compile(r"qa_assistant\._|from \._|_[a-z]*\(|sys\.path")
    found = [
        f"{path.name}:{n}"
        for path in EVAL_SCRIPTS
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if private.search(line)
    ]
    assert [p.name for p in EVAL_SCRIPTS] == [
        "fusion_loco.py",
        "ocr_accuracy.py",
        "span_loco.py",
        "statement_calibration.py",
    ]
    assert found == []


@pytest.mark.parametrize("script", EVAL_SCRIPTS, ids=lambda p: p.name)
def test_each_eval_script_runs_its_module(script: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: ")


def test_fusion_reports_the_setting_whose_worst_corpus_is_best(tmp_path: Path) -> None:
    root = write_corpora(tmp_path, articles=3)
    output, table = tmp_path / "fusion.json", tmp_path / "table.json"
    argv = ["--work", str(tmp_path / "work"), "--output", str(output), "--table", str(table)]
    assert fusion.main(argv, root=root, embedder=FakeEmbedder()) == 0
    report = json.loads(output.read_text(encoding="utf-8"))
    rows = json.loads(table.read_text(encoding="utf-8"))
    assert report["corpora"] == list(fusion.CORPORA)
    assert report["settings"] == len(rows) == len(list(fusion.grid()))
    assert set(report["loco"]) == set(report["loco_plain"]) == set(fusion.CORPORA)
    assert report["current"]["setting"] == fusion.default_setting().label()
    # The whole grid replayed, each setting over every corpus.
    assert all(set(r["hit@1"]) == set(fusion.CORPORA) for r in rows)
    best_worst = max(min(r["hit@1"].values()) for r in rows)
    assert min(report["chosen"]["hit@1"].values()) >= best_worst - TIE
    assert all(0.0 <= v <= 1.0 for leg in report["legs_hit@1"].values() for v in leg.values())


def test_the_span_model_keeps_what_loses_nowhere_against_it_off(tmp_path: Path) -> None:
    root = write_corpora(tmp_path, articles=2)
    output = tmp_path / "span.json"
    gold = FakeSpanModel([f"{n}00 nghìn đồng" for n in (1, 2)])
    argv = ["--work", str(tmp_path / "work"), "--output", str(output)]
    assert span_model.main(argv, root=root, embedder=FakeEmbedder(), span_model=gold) == 0
    report = json.loads(output.read_text(encoding="utf-8"))
    assert set(report["folds"]) == set(span_model.CORPORA)
    labels = [row["setting"] for row in report["table"]]
    assert labels == [s.label() for s in span_model.grid()]
    assert report["shipped"] in labels
    off = next(r["figures"] for r in report["table"] if r["setting"] == "span model off")
    # A setting that loses on every corpus against the span model off is chosen by no fold.
    losing = {
        r["setting"]
        for r in report["table"]
        if all(r["figures"][c]["right"] < off[c]["right"] for c in span_model.CORPORA)
    }
    assert not losing & {f["chosen"] for f in report["folds"].values()}
    assert report["shipped"] not in losing
    assert set(report["short_answers"]) == {"-1e+09", "0", "2", "4", "6", "8"}


def test_statement_calibration_keeps_false_abstention_in_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions, documents = write_statements(tmp_path)
    argv = ["--index", str(tmp_path / "index"), "--questions", str(questions)]
    argv += ["--docs", str(documents), "--max-false", "0.02"]
    assert statements.main(argv, root=tmp_path, embedder=FakeEmbedder()) == 0
    *rows, summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["threshold"] for r in rows] == list(statements.THRESHOLDS)
    false = [r["false_abstention"] for r in rows]
    # A stricter threshold turns more statements away: the generated ones cover about 0.6.
    assert false == sorted(false) and false[0] == 0.0 and false[-1] > 0.5
    assert summary["statements"] == 16
    assert summary["chosen"] == statements.pick(rows, 0.02)
    assert summary["chosen"]["false_abstention"] <= 0.02


def test_pick_wants_the_widest_gap_within_the_false_abstention_allowed() -> None:
    rows = [
        {"threshold": 0.2, "false_abstention": 0.0, "abstention_without_its_law": 0.3},
        {"threshold": 0.3, "false_abstention": 0.01, "abstention_without_its_law": 0.5},
        {"threshold": 0.4, "false_abstention": 0.01, "abstention_without_its_law": 0.5},
        {"threshold": 0.5, "false_abstention": 0.05, "abstention_without_its_law": 0.9},
    ]
    assert statements.pick(rows, 0.02)["threshold"] == 0.3
    assert statements.pick(rows, 0.1)["threshold"] == 0.5


def test_ocr_accuracy_reads_the_generated_scan(capsys: pytest.CaptureFixture[str]) -> None:
    if _ocr.tesseract_missing("vie"):
        pytest.skip(_ocr.INSTALL_HINT)
    assert ocr.main(["--pages", "1"], root=ROOT) == 0
    out = capsys.readouterr().out
    rates = {m[1]: float(m[2]) for m in re.finditer(r"^(.+?): CER ([\d.]+)%", out, re.M)}
    assert rates["scan, 300 dpi (image-only PDF)"] <= 2.0
    assert re.search(r"^OCR speed: [\d.]+ pages/minute \(1 A4 pages", out, re.M)
    assert len(re.findall(r"^\.doc via ", out, re.M)) == 3
