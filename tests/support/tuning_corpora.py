"""Small stand-ins for the corpora the tuning scripts replay: the project's own question set and
the public sets of ``../shared`` (uitreg, ALQAC 2023 and 2024, ViRHE4QA), each a few generated
articles with a question about each, laid out as :func:`qa_assistant.tuning.loco.project_corpora`
and the statement calibration expect them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# What each corpus's articles are about, so that no two corpora are the same text.
SUBJECTS = {
    "seed": "hỗ trợ đón Tết cho thôn",
    "uitreg": "học phí học kỳ",
    "alqac2023": "lệ phí cấp giấy phép lái xe hạng",
    "virhe4qa": "điểm rèn luyện học kỳ",
}
ARTICLES = 4  # per document, one question about each


def article(subject: str, n: int) -> str:
    return (
        f"Điều {n}. Quy định về {subject} {n}\n"
        f"Người dân được nhận khoản {subject} {n} là {n}00 nghìn đồng, nộp hồ sơ trước ngày "
        f"{n + 10} tháng {n} tại Ủy ban nhân dân cấp xã nơi cư trú."
    )


def _evidence(subject: str, n: int) -> str:
    return article(subject, n).split("\n")[1]


def _write_set(
    questions: Path, documents: Path, subject: str, rows: Sequence[dict[str, Any]]
) -> None:
    documents.mkdir(parents=True, exist_ok=True)
    answerable = sum(r["answerable"] for r in rows)
    text = "\n\n".join(article(subject, n) for n in range(1, answerable + 1))
    (documents / "van-ban.txt").write_text(text, encoding="utf-8")
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    questions.parent.mkdir(parents=True, exist_ok=True)
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _questions(
    name: str, subject: str, articles: int, split: str | None = None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "id": f"{name}-{n}",
            "question": f"Khoản {subject} {n} là bao nhiêu tiền?",
            "answers": [f"{n}00 nghìn đồng"],
            "evidence": [_evidence(subject, n)],
            "sources": ["van-ban.txt"],
            "answerable": True,
        }
        for n in range(1, articles + 1)
    ]
    rows.append(
        {
            "id": f"{name}-none",
            "question": "Mức phạt khi vượt đèn đỏ ở Hà Nội năm 2030 là bao nhiêu?",
            "answers": [],
            "evidence": [],
            "sources": [],
            "answerable": False,
        }
    )
    if split is not None:
        rows = [{**r, "split": split} for r in rows]
    return rows


def write_corpora(folder: Path, articles: int = ARTICLES) -> Path:
    """The project folder (``eval/questions.jsonl``, ``documents/``) and ``shared`` beside it,
    under ``folder``, each set ``articles`` articles and a question about each, and one
    question none of them answers; returns the project folder."""
    root, shared = folder / "project", folder / "shared"
    layout = {
        "seed": (root / "eval/questions.jsonl", root / "documents", None),
        "uitreg": (
            shared / "benchmarks/uitreg/questions.jsonl",
            shared / "benchmarks/uitreg/documents",
            None,
        ),
        "alqac2023": (
            shared / "benchmarks/alqac2023/questions.jsonl",
            shared / "benchmarks/alqac2023/documents",
            None,
        ),
        "virhe4qa": (
            shared / "training/virhe4qa/questions.jsonl",
            shared / "training/virhe4qa/documents",
            "test",
        ),
    }
    for name, (questions, documents, split) in layout.items():
        subject = SUBJECTS[name]
        _write_set(questions, documents, subject, _questions(name, subject, articles, split))
    return root


def write_statements(folder: Path) -> tuple[Path, Path]:
    """Laws, one a file, and "Đúng/Sai" statements about each (ALQAC 2024's shape): the
    questions file and the documents folder."""
    documents = folder / "laws"
    documents.mkdir(parents=True)
    rows = []
    for i, subject in enumerate(SUBJECTS.values()):
        source = f"luat-{i}.txt"
        text = "\n\n".join(article(subject, n) for n in range(1, ARTICLES + 1))
        (documents / source).write_text(text, encoding="utf-8")
        for n in range(1, ARTICLES + 1):
            rows.append(
                {
                    "id": f"statement-{i}-{n}",
                    "question": (
                        f"Ông Trần Văn Bình nộp hồ sơ nhận khoản {subject} {n} tại Ủy ban "
                        "nhân dân cấp xã ngày 3 tháng 12, đúng hay sai?"
                    ),
                    "answers": [],
                    "evidence": [_evidence(subject, n)],
                    "sources": [source],
                    "answerable": True,
                    "kind": "Đúng/Sai",
                }
            )
    questions = folder / "statements.jsonl"
    questions.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8"
    )
    return questions, documents
