"""Small stand-ins for the sets of ``../shared/training`` that the training tests read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path


def write_virhe4qa_set(shared: Path, articles: Sequence[str]) -> None:
    """A ViRHE4QA-shaped set under ``shared``: one regulation made of ``articles``, where
    article n says by which day the fee of term n is paid, and that question asked of each
    article in the train and in the (untouched) test split."""
    folder = shared / "training" / "virhe4qa"
    (folder / "documents").mkdir(parents=True)
    (folder / "documents" / "quy-che.txt").write_text("\n\n".join(articles), encoding="utf-8")
    rows = [
        {
            "id": f"virhe4qa-{split}-{n}",
            "question": f"Học phí học kỳ {n} nộp trước ngày nào?",
            "answers": [f"ngày {n + 10}"],
            "evidence": [article],
            "sources": ["quy-che.txt"],
            "answerable": True,
            "split": split,
        }
        for n, article in enumerate(articles, start=1)
        for split in ("train", "test")
    ]
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
    (folder / "questions.jsonl").write_text(lines + "\n", encoding="utf-8")
