"""``masked_ar``: masked fine-tuning of an autoregressive model (the paper's method).

User turn: the document with each token masked with probability t, then the instruction
"Return the recovered masked passage."; assistant turn: "Here is the recovered text:", a
blank line, the original document, end-of-turn. Loss only on the assistant's copy of the
document and the end-of-turn tokens: never the prompt, never the fixed prefix.
"""

from __future__ import annotations

import numpy as np

from objectives.base import IGNORE, Context, Example, Objective, Sample, mask_tokens
from platform.chat import MASKED_PASSAGE_INSTRUCTION, RECOVERED_PREFIX, encode_text


class MaskedAR(Objective):
    name = "masked_ar"
    uses_mask_ratio = True

    def __init__(self, context: Context, options=None) -> None:
        super().__init__(context, options)
        tok, chat = context.tokenizer, context.chat
        self._instruction = encode_text(tok, "\n" + MASKED_PASSAGE_INSTRUCTION)
        self._reply_start = [*chat.assistant_header, *encode_text(tok, RECOVERED_PREFIX)]

    def corrupt(self, example: Example, rng: np.random.Generator, t: float) -> list[int]:
        """The document tokens as they appear in the prompt (masked); ``random_ar`` overrides."""
        return mask_tokens(example.ids, rng, t, self.ctx.mask_token_id)[0]

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        chat = self.ctx.chat
        prompt = [*chat.user_prefix, *self.corrupt(example, rng, t), *self._instruction, *self._reply_start]
        target = [*example.ids, *chat.end_of_turn]
        return Sample(prompt + target, [IGNORE] * len(prompt) + target)
