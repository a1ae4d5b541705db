"""Can a verdict ("Đúng"/"Sai") be read from a statement and the provision that decides it?

Usage: python eval/verdict_probe.py

ALQAC 2024's statements ("…, đúng hay sai?", with their gold verdict and article) are the only
labelled statements in ../shared/training. A cross-encoder started from the relevance model
(its top 6 layers and head trained further) reads (statement, gold article, 256 tokens) and
says "Đúng" with a logistic loss; seed 13, 4 epochs, batches of 16, lr 3e-5. Measured by 5-fold
cross-validation over the statements outside the held-out share, then on the held-out share
with a model fit on all the others. The gold article is given, so this is the best case: the
assistant would read the passage retrieval found.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from loco import ROOT, SHARED
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from qa_assistant import Settings
from qa_assistant._model_build import ensure_default_model
from qa_assistant.training.data import is_heldout
from qa_assistant.training.relevance import _trainable as trainable

RELEVANCE = ROOT / "src/qa_assistant/models/relevance-e5-small.safetensors"
MAX_TOKENS, EPOCHS, LR, BATCH, SEED, FOLDS = 256, 4, 3e-5, 16, 13, 5
TRAINED_LAYERS = 6  # the relevance model's

Statement = tuple[str, str, str, float]  # id, statement, article, 1.0 when "Đúng"


def statements() -> list[Statement]:
    rows = (SHARED / "training/alqac2024/questions.jsonl").read_text().splitlines()
    return [
        (r["id"], r["question"], r["evidence"][0], float(r["label"] == "Đúng"))
        for r in map(json.loads, rows)
        if r.get("kind") == "Đúng/Sai" and r.get("evidence")
    ]


class Probe:
    def __init__(self) -> None:
        self.base = ensure_default_model(Settings.model_validate({}).cache_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.base))

    def _model(self) -> Any:
        torch.manual_seed(SEED)
        model = AutoModelForSequenceClassification.from_pretrained(str(self.base), num_labels=1)
        trained = {k: v.float() for k, v in load_file(str(RELEVANCE)).items()}
        model.load_state_dict(trained, strict=False)
        layers = model.config.num_hidden_layers
        for name, param in model.named_parameters():
            param.requires_grad = trainable(name, layers, TRAINED_LAYERS)
        return model

    def _encode(self, batch: Sequence[Statement]) -> Any:
        return self.tokenizer(
            [s[1] for s in batch],
            [s[2] for s in batch],
            truncation="only_second",
            max_length=MAX_TOKENS,
            padding=True,
            return_tensors="pt",
        )

    def fit(self, train: Sequence[Statement]) -> Any:
        model = self._model()
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=0.01)
        rng = random.Random(SEED)
        for _ in range(EPOCHS):
            order = list(train)
            rng.shuffle(order)
            for i in range(0, len(order), BATCH):
                batch = order[i : i + BATCH]
                logits = model(**self._encode(batch)).logits.squeeze(-1)
                labels = torch.tensor([s[3] for s in batch])
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.eval()
        return model

    def predict(self, model: Any, data: Sequence[Statement]) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate(
                [
                    torch.sigmoid(model(**self._encode(data[i : i + BATCH])).logits)
                    .numpy()
                    .reshape(-1)
                    for i in range(0, len(data), BATCH)
                ]
            )


def figures(p: np.ndarray, y: np.ndarray) -> dict[str, float | int]:
    right = (p >= 0.5) == (y == 1)
    sure = np.abs(p - 0.5) >= 0.25
    return {
        "statements": len(y),
        "accuracy": round(float(right.mean()), 3),
        "majority": round(float(max(y.mean(), 1 - y.mean())), 3),
        "sure (p <= 0.25 or >= 0.75)": int(sure.sum()),
        "sure, right": round(float(right[sure].mean()), 3) if sure.any() else 0.0,
    }


def main() -> None:
    torch.set_num_threads(2)
    every = statements()
    held = [s for s in every if is_heldout(s[0])]
    rest = [s for s in every if not is_heldout(s[0])]
    random.Random(SEED).shuffle(rest)
    probe = Probe()
    p, y = [], []
    for k in range(FOLDS):
        test = rest[k::FOLDS]
        model = probe.fit([s for s in rest if s not in test])
        p.append(probe.predict(model, test))
        y.append(np.array([s[3] for s in test]))
        print(f"fold {k + 1} of {FOLDS}", flush=True)
    report = {"cross-validation": figures(np.concatenate(p), np.concatenate(y))}
    model = probe.fit(rest)
    report["held-out share"] = figures(probe.predict(model, held), np.array([s[3] for s in held]))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
