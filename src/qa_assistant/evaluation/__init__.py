"""Question sets, evaluation metrics, the evaluation runner and its report.

One module each: :mod:`.questions` reads and checks a question-set file; :mod:`.metrics` holds
the metric names, the gold match (when a retrieved passage counts as finding a gold evidence
text) and the per-question metrics; :mod:`.results` the records of a run and their aggregation;
:mod:`.runner` asks the questions (``run_evaluation`` is what ``eval`` runs); :mod:`.report`
writes the files of a run. The names below are the ones the rest of the project and the tests
use, so callers import them from ``qa_assistant.evaluation`` whichever module holds them.

Every definition here is documented for users in ``eval/README.md``; keep the two in step.
"""

from __future__ import annotations

from .metrics import (
    ALL_METRICS,
    PER_QUESTION_METRICS,
    auc,
    best_token_f1,
    citation_support,
    citation_validity,
    containment,
    format_value,
    gold_match_threshold,
    has_common_run,
    hit_at,
    matches_any_gold,
    matches_gold,
    mrr_at,
    ndcg_at,
    normalize_for_match,
    question_metrics,
    retrieval_metrics,
    risk_metrics,
    short_answer_match,
    token_f1,
)
from .questions import (
    Question,
    QuestionRow,
    QuestionSet,
    load_question_set,
    parse_question,
    parse_question_lines,
)
from .report import render_report, write_report
from .results import (
    EvalSummary,
    Figures,
    QuestionResult,
    abstention_metrics,
    aggregate,
    percentile,
)
from .runner import evaluate, run_evaluation

__all__ = [
    "ALL_METRICS",
    "PER_QUESTION_METRICS",
    "EvalSummary",
    "Figures",
    "Question",
    "QuestionResult",
    "QuestionRow",
    "QuestionSet",
    "abstention_metrics",
    "aggregate",
    "auc",
    "best_token_f1",
    "citation_support",
    "citation_validity",
    "containment",
    "evaluate",
    "format_value",
    "gold_match_threshold",
    "has_common_run",
    "hit_at",
    "load_question_set",
    "matches_any_gold",
    "matches_gold",
    "mrr_at",
    "ndcg_at",
    "normalize_for_match",
    "parse_question",
    "parse_question_lines",
    "percentile",
    "question_metrics",
    "render_report",
    "retrieval_metrics",
    "risk_metrics",
    "run_evaluation",
    "short_answer_match",
    "token_f1",
    "write_report",
]
