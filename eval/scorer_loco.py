"""One learned scorer of the answer: fit on the training sets' held-out shares, chosen by
leave-one-corpus-out, against the answer stage as shipped.

Usage: python eval/scorer_loco.py [--work DIR] [--output FILE]

The answer stage decides with rules (coverage, names, numbers, years) and, where they
abstain, the reader's span margin with the rules' checks. The alternative measured here is a
single logistic scorer over all of those signals at once: the reader's margin, the rules'
coverage features of the sentence it would quote, whether the rules passed, and the
retrieval and relevance scores of the passage. For every question the answerer is asked
permissively (the reader's sentence quoted wherever the rules abstain, however low its
margin); the scorer then says whether that candidate is quoted or the question is abstained
on. It is fit (plain L2 logistic regression, features standardised) on the held-out shares of
``shared/training`` the models never trained on (ViRHE4QA train/val, UIT Wikipedia, ALQAC 2022,
Zalo 2019 with its unanswerable questions), labelled 1 where the candidate holds a gold
answer. Its threshold, and whether it decides everywhere or only where the shipped stage
abstains, are chosen by leave-one-corpus-out over the corpora of ``reader_loco.py``, by the
same rule (the worst change against the shipped stage).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from loco import SHARED, Corpus, change, heldout_set
from loco import choose as choose_by_worst
from loco import folds as loco_folds
from reader_loco import CORPORA, CachedReader, Record, asked, collect

from qa_assistant import Settings
from qa_assistant._answering.extractive import ExtractiveAnswerer
from qa_assistant._answering.factory import make_answerer
from qa_assistant._evidence import score_sentences
from qa_assistant._question import analyse_question
from qa_assistant._reader import ensure_reader_model, load_span_reader
from qa_assistant._vietnamese import sentence_spans, strip_diacritics
from qa_assistant.evaluation import Question, auc, containment
from qa_assistant.training.data import is_heldout
from qa_assistant.types import Answer

FEATURES = (
    "rules_pass",
    "shipped_answers",
    "margin",
    "has_span",
    "span_in_quote",
    "coverage",
    "sentence_coverage",
    "phrase",
    "names_the_case",
    "missing_words",
    "wants_number",
    "has_number",
    "passage_rank",
    "relevance",
    "relevance_known",
    "top_score",
    "score_gap",
    "second_look",
    "stripped",
    "multi_part",
    "terms",
)


@dataclass(frozen=True)
class Row:
    corpus: str
    answerable: bool
    candidate_right: bool  # the permissive candidate holds a gold answer
    shipped_right: bool  # the shipped answer is right (holds gold, or abstains where it should)
    candidate: bool  # the permissive answerer answered at all
    shipped_answers: bool
    x: tuple[float, ...]
    gold_at: str = ""  # where an answerable question's gold answer is (:func:`_gold_at`)


def heldout_corpora(work: Path) -> list[Corpus]:
    """The held-out shares of the training sets with answer spans and Zalo's, as question-set
    files (a question without a gold answer is skipped where they are read)."""
    data = work / "heldout"
    data.mkdir(parents=True, exist_ok=True)
    training = SHARED / "training"
    found = [
        Corpus(
            f"{name}-heldout", heldout_set(name, name, data, splits), training / name / "documents"
        )
        for name, splits in (("virhe4qa", ("train", "val")), ("uitwiki", None), ("alqac2022", None))
    ]
    found.append(_zalo(data))
    return found


def _zalo(data: Path) -> Corpus:
    """Zalo 2019's held-out pairs as a corpus of their paragraphs. A question is unanswerable
    when none of its held-out paragraphs answers it."""
    rows = [
        json.loads(line)
        for line in (SHARED / "training/zalo2019/pairs.jsonl").open()
        if is_heldout(str(json.loads(line)["id"]))
    ]
    documents = data / "zalo2019-documents"
    documents.mkdir(exist_ok=True)
    contexts = list(dict.fromkeys(str(r["context"]) for r in rows))
    for i, context in enumerate(contexts):
        (documents / f"zalo-{i:04d}.txt").write_text(context + "\n", encoding="utf-8")
    by_question: dict[str, list[str]] = {}
    for r in rows:
        by_question.setdefault(str(r["question"]), []).extend(r.get("answers") or [])
    lines = []
    for i, (question, answers) in enumerate(by_question.items()):
        row = {
            "id": f"zalo-heldout-{i}",
            "question": question,
            "answers": sorted(set(answers)),
            "answerable": bool(answers),
        }
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    path = data / "zalo2019.jsonl"
    path.write_text("".join(lines))
    return Corpus("zalo2019-heldout", path, documents)


def _right(answer: Answer, q: Question) -> bool:
    if not q.answerable:
        return answer.abstained
    return not answer.abstained and containment(answer.text, q.answers) >= 1.0


def rows_of(
    corpus: Corpus,
    records: dict[str, Record],
    shipped: ExtractiveAnswerer,
    permissive: ExtractiveAnswerer,
) -> list[Row]:
    """Each question's features (``FEATURES``, of the permissive candidate), whether the
    candidate and the shipped answer are right, and where its gold answer is."""
    found = []
    for q in corpus.questions_asked():
        if q.question not in records or (q.answerable and not q.answers):
            continue
        record = records[q.question]
        question = record[0]
        s_answer, _ = asked(shipped, record)
        answer, hits = asked(permissive, record)
        second = hits is not record[2]
        terms = analyse_question(question)
        top = hits[: record[1]]
        scored = shipped.sentences(question, top)
        rules_pass = shipped._best(scored, terms) is not None
        span = permissive._read(question, top)
        cited = None
        if not answer.abstained and answer.citations:
            c = answer.citations[0]
            index = next(i for i, h in enumerate(top) if h.chunk.id == c.chunk_id)
            inside = [
                s
                for s in scored
                if s.hit_index == index and s.text.strip() and s.text.strip() in c.quote
            ]
            cited = max(inside, key=lambda s: s.coverage, default=None)
        span_in_quote = bool(
            span is not None
            and cited is not None
            and span[0] == cited.hit_index
            and cited.start <= span[1].start < cited.end
        )
        relevance = [p for h in hits[:1] if (p := h.leg("relevance")) is not None]
        x = (
            float(rules_pass),
            float(not s_answer.abstained),
            max(-10.0, min(10.0, span[1].margin)) if span else -10.0,
            float(span is not None),
            float(span_in_quote),
            cited.coverage if cited else 0.0,
            cited.sentence_coverage if cited else 0.0,
            cited.phrase if cited else 0.0,
            float(shipped.names_the_case(cited, terms)) if cited else 0.0,
            float(bool(cited.missing_words)) if cited else 0.0,
            float(terms.wants_number),
            float(cited.has_number) if cited else 0.0,
            float(cited.rank) if cited else 10.0,
            relevance[0] if relevance else 0.0,
            float(bool(relevance)),
            hits[0].score if hits else 0.0,
            hits[0].score - hits[1].score if len(hits) > 1 else 0.0,
            float(second),
            float(strip_diacritics(question) == question),
            float(terms.multi_part),
            float(len(terms.terms)),
        )
        found.append(
            Row(
                corpus=corpus.name,
                answerable=q.answerable,
                candidate_right=_right(answer, q) if q.answerable else False,
                shipped_right=_right(s_answer, q),
                candidate=not answer.abstained,
                shipped_answers=not s_answer.abstained,
                x=x,
                gold_at=_gold_at(q, record) if q.answerable else "",
            )
        )
    return found


def _gold_at(q: Question, record: Record) -> str:
    """Where the gold answer is among the passages the answerer read: inside one sentence of
    the top passage, across sentences of it, in a lower passage, or in none."""
    _, k, hits, rescored = record
    tops = [h for h in (hits[:1] + (rescored or [])[:1]) if containment(h.chunk.text, q.answers)]
    if tops:
        text = tops[0].chunk.text
        if not any(containment(text[a:b], q.answers) for a, b in sentence_spans(text)):
            return "top passage, across sentences"
        # Its rank among the passage's sentences by the rules' word score.
        scored = [s for s in score_sentences(record[0], tops[:1]) if not s.heading]
        rank = next((i for i, s in enumerate(scored, 1) if containment(s.text, q.answers)), 0)
        return f"top passage, one sentence, the rules' {rank or 'unscored'}"
    lower = hits[:k] + (rescored or [])[:k]
    return "a lower passage" if any(containment(h.chunk.text, q.answers) for h in lower) else "none"


def fit(rows: Sequence[Row], l2: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, scale and weights (bias last) of an L2 logistic regression, by Newton steps."""
    used = [r for r in rows if r.candidate]
    x = np.array([r.x for r in used])
    y = np.array([float(r.candidate_right) for r in used])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = l2 * np.eye(z.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, w


def probability(model: tuple[np.ndarray, np.ndarray, np.ndarray], x: Sequence[float]) -> float:
    mean, scale, w = model
    z = np.append((np.array(x) - mean) / scale, 1.0)
    return float(1.0 / (1.0 + np.exp(-z @ w)))


def right_share(rows: Sequence[Row], outcome: Sequence[str]) -> float:
    """The share answered right when row ``i`` gives ``outcome[i]``: the shipped answer, the
    permissive candidate, or an abstention."""
    right = [
        r.shipped_right
        if o == "shipped"
        else (r.candidate_right if o == "candidate" and r.candidate else not r.answerable)
        for r, o in zip(rows, outcome, strict=True)
    ]
    return sum(right) / max(len(right), 1)


def arguments(description: str, output: str) -> argparse.Namespace:
    """The scripts' options: where the held-out indexes are built, where the corpora's
    records of ``reader_loco.py`` are, and the report to write."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--work", type=Path, default=Path("out/scorer-loco"))
    parser.add_argument("--reader-work", type=Path, default=Path("out/reader-loco"))
    parser.add_argument("--output", type=Path, default=Path(output))
    return parser.parse_args()


def shipped_answerer() -> tuple[Settings, CachedReader, ExtractiveAnswerer]:
    """The default settings (the reader on), the int8 reader keeping every read, and the
    answerer they make."""
    settings = Settings.model_validate({"reader": {"enabled": True}})
    reader = CachedReader(load_span_reader(ensure_reader_model(settings.cache_dir), settings))
    shipped = make_answerer(settings, reader)
    assert isinstance(shipped, ExtractiveAnswerer)
    return settings, reader, shipped


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], "eval/scorer_loco.json")
    settings, reader, shipped = shipped_answerer()
    loose = settings.reader.model_copy(update={"answer_margin": -1e9, "answer_checks": False})
    permissive = make_answerer(settings.model_copy(update={"reader": loose}), reader)
    assert isinstance(permissive, ExtractiveAnswerer)
    cache = args.work / "rows.pkl"
    if cache.exists():
        fitting, measured = pickle.loads(cache.read_bytes())
    else:
        fitting = []
        for corpus in heldout_corpora(args.work):
            got = rows_of(corpus, collect(corpus, args.work), shipped, permissive)
            print(f"{corpus.name}: {len(got)} questions", flush=True)
            fitting += got
        measured = {
            c.name: rows_of(c, collect(c, args.reader_work), shipped, permissive) for c in CORPORA
        }
        cache.write_bytes(pickle.dumps((fitting, measured)))
    names = [c.name for c in CORPORA]
    report: dict[str, object] = {
        "features": list(FEATURES),
        "fit_questions": {
            name: sum(r.corpus == name for r in fitting)
            for name in sorted({r.corpus for r in fitting})
        },
        "shipped": {
            n: round(right_share(rows, ["shipped"] * len(rows)), 3) for n, rows in measured.items()
        },
        # The best any decision over these candidates could do: per question, the shipped
        # answer, the candidate or an abstention, whichever is right.
        "oracle": {
            n: round(
                sum(r.shipped_right or r.candidate_right or not r.answerable for r in rows)
                / len(rows),
                3,
            )
            for n, rows in measured.items()
        },
        # Where the gold answer is when neither the shipped answer nor the candidate holds it.
        "oracle_misses": {n: _misses(rows) for n, rows in measured.items()},
        "margin_auc": {
            n: _rounded_auc(
                [r.x[FEATURES.index("margin")] for r in rows if r.candidate],
                [r.candidate_right for r in rows if r.candidate],
            )
            for n, rows in measured.items()
        },
    }
    print(json.dumps(report, ensure_ascii=False), flush=True)
    variants = {}
    for pairs in (False, True):
        for l2 in (0.1, 1.0, 10.0) if not pairs else (10.0, 100.0):
            label = f"{'pairwise products, ' if pairs else ''}l2 {l2:g}"
            variants[label] = _measure(fitting, measured, names, l2, pairs)
            print(label, json.dumps(variants[label], ensure_ascii=False), flush=True)
    report["scorers"] = variants
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")


def _misses(rows: Sequence[Row]) -> dict[str, object]:
    """Where the gold answer is (share of the corpus), and for a sentence of the top passage,
    the count by its rank among the passage's sentences by the rules' word score."""
    missed = [
        r.gold_at for r in rows if r.answerable and not (r.shipped_right or r.candidate_right)
    ]
    places = [m.split(", the rules'")[0] for m in missed]
    shares: dict[str, object] = {
        at: round(places.count(at) / len(rows), 3) for at in sorted(set(places))
    }
    ranks = [m.split("the rules' ")[1] for m in missed if "the rules' " in m]
    shares["sentence ranks"] = {r: ranks.count(r) for r in sorted(set(ranks), key=_rank_key)}
    return shares


def _rank_key(rank: str) -> tuple[int, str]:
    return (int(rank), "") if rank.isdigit() else (10**6, rank)


def _rounded_auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    value = auc(scores, labels)
    return None if value is None else round(value, 3)


def _measure(
    fitting: Sequence[Row],
    measured: dict[str, list[Row]],
    names: Sequence[str],
    l2: float,
    pairs: bool,
) -> dict[str, object]:
    """One scorer fit on ``fitting``: its AUCs, and the decisions chosen by
    leave-one-corpus-out over ``measured``, deciding everywhere or only where the shipped
    stage abstains."""
    expand = _pairwise if pairs else (lambda r: r)
    model = fit([expand(r) for r in fitting], l2)
    table: dict[tuple[str, float], dict[str, float]] = {}
    aucs = {}
    for name, rows in measured.items():
        probs = [probability(model, expand(r).x) for r in rows]
        aucs[name] = _rounded_auc(
            [p for p, r in zip(probs, rows, strict=True) if r.candidate],
            [r.candidate_right for r in rows if r.candidate],
        )
        table.setdefault(("shipped", 0.0), {})[name] = right_share(rows, ["shipped"] * len(rows))
        for t in np.arange(0.1, 0.95, 0.05):
            t = round(float(t), 2)
            everywhere = ["candidate" if p >= t else "abstain" for p in probs]
            table.setdefault(("everywhere", t), {})[name] = right_share(rows, everywhere)
            beside = [
                "shipped" if r.shipped_answers else e for r, e in zip(rows, everywhere, strict=True)
            ]
            table.setdefault(("where shipped abstains", t), {})[name] = right_share(rows, beside)
    changed = change(table, ("shipped", 0.0))
    result: dict[str, object] = {"auc": aucs}
    for mode in ("everywhere", "where shipped abstains"):
        pool = [s for s in changed if s[0] == mode]
        sub = {s: changed[s] for s in pool}
        folds = loco_folds(sub, names, choose_by_worst)
        best = choose_by_worst(sub, names)
        result[mode] = {
            "left_out": {left: round(table[chosen][left], 3) for left, chosen in folds.items()},
            "left_out_threshold": {left: chosen[1] for left, chosen in folds.items()},
            "chosen": best[1],
            "chosen_figures": {k: round(v, 3) for k, v in table[best].items()},
        }
    if not pairs:
        result["weights"] = dict(zip(FEATURES, np.round(model[2][:-1], 3).tolist(), strict=True))
    return result


def _pairwise(row: Row) -> Row:
    """The row with every product of two of its features added."""
    x = row.x
    products = tuple(x[i] * x[j] for i in range(len(x)) for j in range(i + 1, len(x)))
    return replace(row, x=x + products)


if __name__ == "__main__":
    main()
