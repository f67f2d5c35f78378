"""``masked_ar``: masked fine-tuning of an autoregressive model (the paper's method).

User turn: the document with each token masked with probability t, then the instruction
"Return the recovered masked passage."; assistant turn: "Here is the recovered text:", a
blank line, the original document, end-of-turn. Loss only on the assistant's copy of the
document and the end-of-turn tokens: never the prompt, never the fixed prefix.
"""

from __future__ import annotations

import numpy as np

from objectives.base import (
    IGNORE,
    MASKED_PASSAGE_INSTRUCTION,
    RECOVERED_PREFIX,
    Context,
    Example,
    MaskingObjective,
    Sample,
)


class MaskedAR(MaskingObjective):
    name = "masked_ar"

    def __init__(self, context: Context, options=None) -> None:
        super().__init__(context, options)
        self._instruction = context.encode("\n" + MASKED_PASSAGE_INSTRUCTION)
        self._reply_start = [*context.chat.assistant_header, *context.encode(RECOVERED_PREFIX)]

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        chat = self.ctx.chat
        corrupted, _ = self.corrupt(example.ids, rng, t)  # the document as it appears in the prompt
        prompt = [*chat.user_prefix, *corrupted, *self._instruction, *self._reply_start]
        target = [*example.ids, *chat.end_of_turn]
        return Sample(prompt + target, [IGNORE] * len(prompt) + target)
