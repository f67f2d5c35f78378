"""Batched greedy decoding of chat-format questions: the default ``Objective.generate``.

Why batched greedy generation with left padding and the KV cache: evaluation runs many
times per trial, over every question; one ``generate`` call per batch is what keeps it a
small share of a trial. It sits below the objectives (which call it) and knows nothing of
scoring (``platform/evaluate.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from platform.chat import ChatFormat, prompt_ids


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
