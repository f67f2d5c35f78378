"""``ar``: plain autoregressive fine-tuning on ``BOS + document + EOS`` (the paper's baseline).

Loss on every document token and EOS. With ``chat: true`` the chat variant of the paper is
used instead: user "Tell me a fact." / assistant = the document.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from objectives.base import FACT_REQUEST, IGNORE, Context, Example, Objective, Sample


class AROptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chat: bool = False


class AR(Objective):
    name = "ar"
    Options = AROptions

    def __init__(self, context: Context, options: AROptions | None = None) -> None:
        super().__init__(context, options)
        chat = context.chat
        self._fact_prompt = [*chat.user_prefix, *context.encode(FACT_REQUEST), *chat.assistant_header]

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        doc = list(example.ids)
        if self.options.chat:
            target = doc + list(self.ctx.chat.end_of_turn)
            return Sample(self._fact_prompt + target, [IGNORE] * len(self._fact_prompt) + target)
        if self.ctx.bos_id is None:  # e.g. Qwen: no BOS token, every document token is a target
            ids = [*doc, self.ctx.eos_id]
            return Sample(ids, ids)
        ids = [self.ctx.bos_id, *doc, self.ctx.eos_id]
        return Sample(ids, [IGNORE, *ids[1:]])
