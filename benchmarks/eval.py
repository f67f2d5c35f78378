"""Figure 5: evaluation speed: batched greedy decoding vs one question at a time, and diffusion.

``platform.decoding.greedy_answers`` on the world's test questions with a freshly built
(untrained) tiny model, batch 64 against batch 1. Generated tokens are counted from the
model's own ``generate`` output, up to and including the first stop token of each row (the
tokens a question really needs), so padding after an early stop is never counted. The
masked-diffusion sampler (``MaskedDiffusion.generate``, bidirectional model) is timed per
answer against batched greedy decoding.
"""

from __future__ import annotations

from typing import Any

import torch

from benchmarks.common import Figure, Settings, Workbench, median, timed
from platform.chat import ChatFormat
from platform.decoding import greedy_answers

EVAL_BATCH = 64


class CountingModel:
    """Delegates to a model; counts the tokens ``generate`` produced up to each row's stop."""

    def __init__(self, model: torch.nn.Module, stop_ids: list[int]) -> None:
        self._model = model
        self._stop = torch.tensor(stop_ids)
        self.tokens = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def generate(self, input_ids: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        output = self._model.generate(input_ids=input_ids, **kwargs)
        new = output[:, input_ids.shape[1] :]
        stopped = torch.isin(new, self._stop)
        ends = torch.where(stopped.any(dim=1), stopped.int().argmax(dim=1) + 1, torch.full((len(new),), new.shape[1]))
        self.tokens += int(ends.sum())
        return output


def run(bench: Workbench, settings: Settings) -> list[Figure]:
    tokenizer = bench.tokenizer
    chat = ChatFormat.from_tokenizer(tokenizer)
    questions = [q.question for q in bench.corpus.questions][: settings.eval_questions]
    max_new = bench.spec.eval.max_new_tokens
    stop_ids = sorted({*chat.end_of_turn[-1:], tokenizer.eos_token_id} - {None})
    model = CountingModel(bench.model(), stop_ids)

    def rate(batch_size: int, reps: int) -> tuple[float, float]:
        """Median tokens/s and seconds per answer."""
        greedy_answers(
            model, tokenizer, chat, questions[: min(len(questions), batch_size)], max_new, batch_size
        )  # warm-up
        rates, per_answer = [], []
        for _ in range(reps):
            model.tokens = 0
            seconds, _ = timed(lambda: greedy_answers(model, tokenizer, chat, questions, max_new, batch_size))
            rates.append(model.tokens / seconds)
            per_answer.append(seconds / len(questions))
        return median(rates), median(per_answer)

    reps = max(1, settings.reps // 2)
    batched, batched_answer = rate(EVAL_BATCH, settings.reps)
    single, _ = rate(1, reps)
    speedup = batched / single
    figures = [
        Figure(
            "5",
            f"greedy_answers batched (batch {EVAL_BATCH})",
            batched,
            "tokens/s",
            "one question at a time (batch 1)",
            single,
            "tokens/s",
            speedup,
            ">= 10x",
            speedup >= 10,
            f"{len(questions)} test questions, max_new_tokens {max_new}, untrained tiny default model",
        )
    ]

    diffusion = bench.objective("masked_diffusion")
    bidirectional = bench.model(bidirectional=True)
    diffusion.generate(bidirectional, questions[:2], max_new, EVAL_BATCH)  # warm-up
    seconds = median(
        [timed(lambda: diffusion.generate(bidirectional, questions, max_new, EVAL_BATCH))[0] for _ in range(reps)]
    )
    per_answer = seconds / len(questions)
    options = diffusion.options
    figures.append(
        Figure(
            "5",
            f"masked-diffusion sampler (batch {EVAL_BATCH})",
            per_answer * 1e3,
            "ms/answer",
            "greedy_answers batched",
            batched_answer * 1e3,
            "ms/answer",
            per_answer / batched_answer,
            notes=f"{diffusion.generation_length(max_new)} tokens in blocks of {options.block_length}, steps "
            f"{options.steps} (at most one model call per committed token and row block)",
        )
    )
    return figures
