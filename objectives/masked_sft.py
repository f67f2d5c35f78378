"""``masked_sft``: masked fine-tuning on math problems (docs/method.md's math variant of ``masked_ar``).

User turn = ``Question:`` + the question + ``Answer:`` + the answer with each token replaced
by the mask token with probability t (Bernoulli(t)) + ``Return the recovered masked answer.``;
the question is never masked. Assistant turn = the full original answer + end-of-turn.
The pieces are separated by newlines: question and answer are tokenized on their own
(``Example.context`` / ``Example.ids``), and a subword tokenizer encodes text that starts a
line the same alone as inside the whole prompt (no leading-space variant of the first token).

Loss: only on the assistant's answer tokens whose copy in the prompt was masked (docs/method.md),
plus the end-of-turn token, included (as in ``masked_ar``) so greedy generation learns to
stop after the answer. Unmasked answer tokens carry no loss: they can be copied from the
prompt, which teaches nothing.

Every sample carries answer loss: if Bernoulli(t) masked no token (small t, short answer, or
t = 0), one token, chosen by the sample's rng, is masked. Without it such a sample would
train only the end-of-turn and waste its share of the batch; a fixed t = 0 ablation thus
means "exactly one masked token".

Evaluation asks the plain question, 0-shot (the default ``Objective.generate``), like ``sft``.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from objectives.base import (
    IGNORE,
    MASKED_ANSWER_INSTRUCTION,
    Context,
    Example,
    MaskingObjective,
    Sample,
)
from objectives.sft import MathObjective


class MaskedSFT(MathObjective, MaskingObjective):
    name = "masked_sft"
    mask_at_least_one = True

    def __init__(self, context: Context, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        self._question_start = [*context.chat.user_prefix, *context.encode("Question:\n")]
        self._answer_start = context.encode("\nAnswer:\n")
        self._instruction = [*context.encode("\n" + MASKED_ANSWER_INSTRUCTION), *context.chat.assistant_header]

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        corrupted, masked = self.corrupt(example.ids, rng, t)
        prompt = [*self._question_start, *example.context, *self._answer_start, *corrupted, *self._instruction]
        end = list(self.ctx.chat.end_of_turn)
        answer_labels = np.where(masked, np.asarray(example.ids, dtype=np.int64), IGNORE).tolist()
        return Sample([*prompt, *example.ids, *end], [IGNORE] * len(prompt) + answer_labels + end)
