"""The paper's metric: each answer scored, then accuracy per direction (forward / backward),
per group and task, or math exact match.

Answers come from the objective's ``generate`` (``platform/decoding.py`` by default); this
module only scores what comes back, so every objective is measured by the same rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from platform.data.corpus import Question
from platform.scoring import math_exact_match, rouge1_recall


@dataclass(frozen=True)
class Prediction:
    question: str
    reference: str
    answer: str
    score: float
    group: str
    task: str
    direction: str


METRICS = {"rouge1_recall": rouge1_recall, "exact_number": math_exact_match}


def score_questions(questions: Sequence[Question], answers: Sequence[str]) -> list[Prediction]:
    """Each question scored by its own metric (ROUGE-1 recall for facts, exact match for math)."""
    return [
        Prediction(q.question, q.answer, a, METRICS[q.metric](a, q.answer), q.group, q.task, q.direction)
        for q, a in zip(questions, answers, strict=True)
    ]


def summarize(predictions: Sequence[Prediction], prefix: str = "") -> dict[str, float]:
    """Mean score per direction, their mean, and per (group, task): MLflow-ready metric names."""
    by_key: dict[str, list[float]] = defaultdict(list)
    for p in predictions:
        by_key[f"{p.direction}_acc"].append(p.score)
        by_key[f"acc/{p.group}/{p.task}"].append(p.score)
    metrics = {f"{prefix}{key}": sum(v) / len(v) for key, v in by_key.items()}
    directions = [metrics[f"{prefix}{d}_acc"] for d in ("forward", "backward") if f"{prefix}{d}_acc" in metrics]
    if directions:
        metrics[f"{prefix}mean_acc"] = sum(directions) / len(directions)
    return metrics
