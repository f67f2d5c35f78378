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

from objectives.base import IGNORE, Context, Example, Objective, Sample, mask_tokens
from objectives.sft import encode_problems
from platform.chat import MASKED_ANSWER_INSTRUCTION, encode_text
from platform.data.corpus import Corpus


class MaskedSFT(Objective):
    name = "masked_sft"
    task = "math"
    uses_mask_ratio = True

    def __init__(self, context: Context, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        tok, chat = context.tokenizer, context.chat
        self._question_start = [*chat.user_prefix, *encode_text(tok, "Question:\n")]
        self._answer_start = encode_text(tok, "\nAnswer:\n")
        self._instruction = [*encode_text(tok, "\n" + MASKED_ANSWER_INSTRUCTION), *chat.assistant_header]

    def encode(self, corpus: Corpus) -> list[Example]:
        return encode_problems(self.ctx.tokenizer, corpus, self.name)

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        mask_id = self.ctx.mask_token_id
        corrupted, masked = mask_tokens(example.ids, rng, t, mask_id)
        if not masked.any():
            position = int(rng.integers(len(example.ids)))
            corrupted[position] = mask_id
            masked[position] = True
        prompt = [*self._question_start, *example.context, *self._answer_start, *corrupted, *self._instruction]
        end = list(self.ctx.chat.end_of_turn)
        answer_labels = np.where(masked, np.asarray(example.ids, dtype=np.int64), IGNORE).tolist()
        return Sample([*prompt, *example.ids, *end], [IGNORE] * len(prompt) + answer_labels + end)
