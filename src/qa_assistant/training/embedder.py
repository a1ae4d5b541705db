"""Fine-tune the dense leg's embedder: multilingual-e5-small, contrastively, on the public QA
sets of ``shared/training``.

Each question is paired with its gold passage, chunked as ``qa-assistant ingest`` chunks (for a
long article, the chunk holding the answer span), and with the best passage the project's own
lexical retrieval ranks that is not gold (a hard negative). The loss is InfoNCE over the batch:
a question against every positive and hard negative in it, the other questions' passages being
the in-batch negatives. The word embeddings stay frozen, so only the encoder layers change;
what ships is their change over the rebuilt base (:mod:`.._models.tuned_delta`).

Held-out shares and corpora are those of the relevance model (:mod:`.data`); any set
can be left out by name. Seeded and single-process on the CPU.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._models.build import PASSAGE_PREFIX, QUERY_PREFIX
from .._models.tuned_delta import apply_delta
from ..errors import QAError
from ..types import Chunk
from .data import (
    TRAINING_SETS,
    Corpus,
    asked,
    check_leave_out,
    is_heldout,
    passage_text,
    passage_tokens,
    rows,
)
from .loop import minutes_since, run_steps, seeded_tokenizer, trainable, write_change

__all__ = [
    "EmbedderExample",
    "EmbedderTrainConfig",
    "build_examples",
    "heldout_figures",
    "train_embedder",
]


@dataclass(frozen=True)
class EmbedderTrainConfig:
    seed: int = 13
    passage_tokens: int = 224  # passages are cut here in training (ingest allows 400)
    query_tokens: int = 64
    batch_size: int = 32  # questions a step, with distinct gold passages
    lr: float = 3e-5
    warmup_share: float = 0.06
    temperature: float = 0.02
    max_steps: int = 180  # about 18 s a step on 2 cores: the subsample that fits the budget
    max_per_set: int = 2500  # training questions kept per set (ViRHE4QA alone has 7,797)
    heldout_per_set: int = 100  # held-out questions scored per set, before and after
    max_minutes: float = 75.0  # stop early rather than overrun the 90-minute budget
    leave_out: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmbedderExample:
    set_name: str
    question_id: str
    question: str
    positive: str  # passage texts as the embedder reads them (heading path, then text)
    negative: str


def _positive(gold: Sequence[Chunk], holding: Sequence[Chunk]) -> Chunk:
    """The best-ranked gold chunk that holds an answer span, else the first chunk that does,
    else (no span given) the best gold chunk."""
    for chunk in gold:
        if chunk in holding:
            return chunk
    return holding[0] if holding else gold[0]


def build_examples(
    shared: Path,
    count_tokens: Callable[[str], int],
    cfg: EmbedderTrainConfig,
    *,
    log: Callable[[str], None] = print,
) -> tuple[list[EmbedderExample], list[EmbedderExample]]:
    """Training and held-out examples of every set not left out, subsampled by seed."""
    check_leave_out(cfg.leave_out, [spec.name for spec in TRAINING_SETS])
    rng = random.Random(cfg.seed)
    train: list[EmbedderExample] = []
    heldout: list[EmbedderExample] = []
    corpora: dict[str, Corpus] = {}
    for spec in TRAINING_SETS:
        if spec.name in cfg.leave_out:
            log(f"{spec.name}: left out")
            continue
        if spec.documents not in corpora:
            corpora[spec.documents] = Corpus(shared / spec.documents, count_tokens)
        corpus = corpora[spec.documents]
        kept: list[EmbedderExample] = []
        held: list[EmbedderExample] = []
        for row in rows(shared / spec.questions):
            if not spec.admits(row):
                continue
            found = corpus.retrieve(row)
            if found is None:
                continue
            positive = _positive(found.gold, corpus.answer_chunks(row))
            pool = list(found.negatives[:3])
            while not pool:
                c = rng.choice(corpus.chunks)
                if c not in found.gold:
                    pool.append(c)
            example = EmbedderExample(
                spec.name,
                str(row["id"]),
                asked(str(row["id"]), found.question),
                passage_text(positive),
                passage_text(rng.choice(pool)),
            )
            (held if is_heldout(str(row["id"])) else kept).append(example)
        rng.shuffle(kept)
        rng.shuffle(held)
        log(f"{spec.name}: {len(kept)} training and {len(held)} held-out questions")
        train += kept[: cfg.max_per_set]
        heldout += held[: cfg.heldout_per_set]
    if not train:
        raise QAError("Every training set was left out: leave at least one in.")
    rng.shuffle(train)
    return train, heldout


def _batches(examples: Sequence[EmbedderExample], size: int) -> list[list[EmbedderExample]]:
    """Consecutive batches whose gold passages are distinct: two questions on one passage would
    each count the other's positive as a negative. A question that does not fit waits for the
    next batch."""
    batches: list[list[EmbedderExample]] = []
    waiting = list(examples)
    while waiting:
        batch: list[EmbedderExample] = []
        seen: set[str] = set()
        later: list[EmbedderExample] = []
        for ex in waiting:
            if len(batch) < size and ex.positive not in seen:
                batch.append(ex)
                seen.add(ex.positive)
            else:
                later.append(ex)
        batches.append(batch)
        waiting = later
    return batches


def _encode(model: Any, tokenizer: Any, texts: list[str], max_tokens: int) -> Any:
    import torch

    enc = tokenizer(
        texts, max_length=max_tokens, truncation=True, padding=True, return_tensors="pt"
    )
    hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.last_hidden_state.dtype)
    pooled = (hidden.last_hidden_state * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1)


def _loss(model: Any, tokenizer: Any, batch: Sequence[EmbedderExample], cfg: Any) -> Any:
    import torch
    import torch.nn.functional as F

    q = _encode(model, tokenizer, [QUERY_PREFIX + e.question for e in batch], cfg.query_tokens)
    texts = [e.positive for e in batch] + [e.negative for e in batch]
    p = _encode(model, tokenizer, [PASSAGE_PREFIX + t for t in texts], cfg.passage_tokens)
    scores = q @ p.T / cfg.temperature
    # A hard negative can be another question's gold passage or the same text as one's own:
    # it must not count against that question.
    same = torch.tensor([[t == e.positive for t in texts] for e in batch], dtype=torch.bool)
    same[torch.arange(len(batch)), torch.arange(len(batch))] = False
    scores = scores.masked_fill(same, float("-inf"))
    return F.cross_entropy(scores, torch.arange(len(batch)))


def heldout_figures(
    model: Any, tokenizer: Any, heldout: Sequence[EmbedderExample], cfg: EmbedderTrainConfig
) -> dict[str, dict[str, float]]:
    """Per set: how often a held-out question's gold passage ranks first (hit@1) and its MRR
    among every held-out gold passage and hard negative of the set."""
    import torch

    figures: dict[str, dict[str, float]] = {}
    model.eval()
    with torch.inference_mode():
        for name in sorted({e.set_name for e in heldout}):
            examples = [e for e in heldout if e.set_name == name]
            passages = sorted({t for e in examples for t in (e.positive, e.negative)})
            index = {t: i for i, t in enumerate(passages)}
            p = torch.cat(
                [
                    _encode(
                        model,
                        tokenizer,
                        [PASSAGE_PREFIX + t for t in passages[i : i + 32]],
                        cfg.passage_tokens,
                    )
                    for i in range(0, len(passages), 32)
                ]
            )
            q = _encode(
                model, tokenizer, [QUERY_PREFIX + e.question for e in examples], cfg.query_tokens
            )
            scores = (q @ p.T).numpy()
            gold = np.array([scores[i, index[e.positive]] for i, e in enumerate(examples)])
            ranks = 1 + (scores > gold[:, None]).sum(axis=1)
            figures[name] = {
                "questions": float(len(examples)),
                "hit@1": float((ranks == 1).mean()),
                "mrr": float((1.0 / ranks).mean()),
            }
    model.train()
    return figures


def train_embedder(
    shared: Path,
    base: Path,
    output: Path,
    cfg: EmbedderTrainConfig,
    *,
    examples: tuple[list[EmbedderExample], list[EmbedderExample]] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train on ``shared/training`` (or on ``examples``: training and held-out), write the
    shipped change to ``output`` and return figures."""
    import torch
    from safetensors.numpy import load_file
    from transformers import AutoModel

    started = time.monotonic()
    tokenizer = seeded_tokenizer(cfg.seed, base)
    if examples is None:
        examples = build_examples(shared, passage_tokens(tokenizer), cfg, log=log)
    train, heldout = examples
    model = AutoModel.from_pretrained(str(base), local_files_only=True)
    layers = model.config.num_hidden_layers
    for name, param in model.named_parameters():
        # Every encoder layer trains; the embeddings stay as bundled.
        param.requires_grad = trainable(name, layers, layers, ())
    before = heldout_figures(model, tokenizer, heldout, cfg)
    log(f"held-out before: {json.dumps(before)}")
    body = [p for p in model.parameters() if p.requires_grad]
    batches = _batches(train, cfg.batch_size)
    steps = min(cfg.max_steps, len(batches))
    log(f"{len(train)} training questions, {steps} steps of {cfg.batch_size}")
    model.train()
    done = run_steps(
        steps,
        lambda step: _loss(model, tokenizer, batches[step], cfg),
        [(body, cfg.lr)],
        cfg,
        started=started,
        log=log,
        log_every=10,
        decay=0.95,
    )
    trained = {n: p.detach().numpy() for n, p in model.named_parameters() if p.requires_grad}
    meta: dict[str, Any] = {
        "config": asdict(cfg),
        "steps": done,
        "questions_trained": done * cfg.batch_size,
        "minutes": minutes_since(started),
        "heldout_before": before,
    }

    def after() -> dict[str, dict[str, float]]:
        # Figures of the weights as shipped: the int8 change as written put back on the base.
        base_state = load_file(str(base / "model.safetensors"))
        shipped = apply_delta(base_state, load_file(str(output)))
        model.load_state_dict({k: torch.from_numpy(v) for k, v in shipped.items()}, strict=False)
        return heldout_figures(model, tokenizer, heldout, cfg)

    write_change(
        base,
        trained,
        output,
        meta,
        after,
        key="heldout_after",
        label="held-out after",
        started=started,
        log=log,
    )
    return meta
