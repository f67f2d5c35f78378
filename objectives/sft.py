"""``sft``: supervised fine-tuning on math problems, the math baseline of docs/method.md.

User turn = the question, assistant turn = the full worked answer (ending in ``#### N``),
then end-of-turn. Loss on the answer tokens and the end-of-turn only (docs/method.md: "loss on
answer tokens"); the end-of-turn is trained so greedy generation stops after the answer.
The prompt is exactly the evaluation prompt (``platform.chat.prompt_ids``), so the model is
trained on the question as it will be asked, 0-shot.
"""

from __future__ import annotations

import numpy as np

from objectives.base import IGNORE, BaseStage, Context, Example, Objective, Sample
from platform.data.corpus import Corpus, Question
from platform.errors import UserError


def encode_problems(context: Context, corpus: Corpus, objective: str) -> list[Example]:
    """One example per training problem: ``context`` = the question, ``ids`` = the answer.

    Why the split: the question is never corrupted (docs/method.md's ``masked_sft``), the answer
    is what masking corrupts and what carries the loss.
    """
    if not corpus.train_problems:
        raise UserError(
            f"objective {objective!r} trains on math problems, and corpus {corpus.name!r} has none "
            "(use a math world such as 'arithmetic', or GSM8K-format files)",
            where="data.name",
        )
    return [
        Example(i, tuple(context.encode(p.answer)), tuple(context.encode(p.question)))
        for i, p in enumerate(corpus.train_problems)
    ]


class MathObjective(Objective):
    """An objective that trains on math problems and is scored by exact match: ``encode``
    gives one example per training problem, and every evaluation asks the test problems."""

    task = "math"

    @classmethod
    def base_stage(cls) -> BaseStage:
        """The math base model: known problems (never a training or test one) in ``sft``'s and
        ``masked_sft``'s formats, so fine-tuning starts from a model that answers a plain
        question in the evaluation format, as a pretrained instruct model does."""
        from objectives.masked_sft import MaskedSFT

        return BaseStage("math", (SFT, MaskedSFT))

    def encode(self, corpus: Corpus) -> list[Example]:
        return encode_problems(self.ctx, corpus, self.name)

    def test_questions(self, corpus: Corpus) -> list[Question]:
        return [problem.as_question() for problem in corpus.test_problems]

    def retention_questions(self, corpus: Corpus) -> list[Question]:
        return []  # no known entities to forget


class SFT(MathObjective):
    name = "sft"

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        chat = self.ctx.chat
        prompt = [*chat.user_prefix, *example.context, *chat.assistant_header]
        target = [*example.ids, *chat.end_of_turn]
        return Sample(prompt + target, [IGNORE] * len(prompt) + target)
