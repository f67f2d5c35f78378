"""Answer generation and accuracy: forward / backward (and per group/task), or math.

Why batched greedy generation with left padding and the KV cache: evaluation runs many
times per trial, over every question; one ``generate`` call per batch is what keeps it a
small share of a trial. Objectives with their own sampler (masked diffusion) override
``Objective.generate``; this module only scores what comes back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from platform.chat import ChatFormat, prompt_ids
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


@torch.no_grad()
def greedy_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    chat: ChatFormat,
    questions: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
) -> list[str]:
    """Greedy (temperature 0) answers, stopping at the end-of-turn or EOS token."""
    was_training = model.training
    model.eval()
    stop_ids = sorted({*chat.end_of_turn[-1:], tokenizer.eos_token_id} - {None})
    device = next(model.parameters()).device
    answers: list[str] = []
    for start in range(0, len(questions), batch_size):
        prompts = [prompt_ids(tokenizer, chat, q) for q in questions[start : start + batch_size]]
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, prompt in enumerate(prompts):  # left padding: every prompt ends at the same column
            input_ids[i, width - len(prompt) :] = torch.tensor(prompt)
            attention[i, width - len(prompt) :] = 1
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=stop_ids,
            pad_token_id=tokenizer.pad_token_id,
        )
        for row in output[:, width:].tolist():
            cut = next((i for i, token in enumerate(row) if token in stop_ids), len(row))
            answers.append(tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
    model.train(was_training)
    return answers


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
