"""The objective interface: everything a plugin author needs to read.

An objective turns the corpus into training sequences and says where the loss goes. It is
called in three places, each with one job:

1. ``encode(corpus)`` once per trial, on the trial's driver: the fixed, tokenized examples
   (one per document, paraphrase or problem).
2. ``make_sample(example, rng, t)`` for every example *every epoch*, inside the Ray Data
   stream: the corrupted input and the labels. ``rng`` is seeded from (seed, epoch, example),
   so masks are reproducible whatever the number of workers; ``t`` is the mask ratio drawn
   from the spec's distribution (ignored by objectives that do not mask).
3. ``loss(logits, batch)`` in the training loop: by default the mean cross-entropy over
   labelled tokens; override it for weighted losses (masked diffusion's 1/t).

Evaluation uses ``generate`` (greedy autoregressive by default; diffusion samplers override).
Set ``bidirectional = True`` when the model must see the whole sequence (no causal mask): the
embedded base model is then pre-trained bidirectionally, with ``qa_sample`` for its QA pairs.
Set ``task = "math"`` to train on ``corpus.train_problems`` and be scored by exact match.
Set ``paraphrases`` to train on a paraphrase set whatever ``data.paraphrases`` says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from transformers import PreTrainedTokenizerBase

from platform.chat import ChatFormat
from platform.data.corpus import Corpus

IGNORE = -100
"""Label value that carries no loss (PyTorch's cross-entropy ``ignore_index``)."""


class NoOptions(BaseModel):
    """Objectives without options still reject unknown keys."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Example:
    """One tokenized training item, fixed for the whole trial."""

    example_id: int
    ids: tuple[int, ...]
    """The document (or answer) tokens: what masking corrupts."""
    context: tuple[int, ...] = ()
    """Never-corrupted tokens that come first (e.g. a math question)."""


@dataclass
class Sample:
    """One training sequence for one epoch."""

    input_ids: list[int]
    labels: list[int]
    weight: float = 1.0
    """Per-sequence loss weight: 1.0 except for weighted objectives (masked diffusion)."""


@dataclass
class Context:
    """What an objective may use: the tokenizer, its chat layout and the mask token."""

    tokenizer: PreTrainedTokenizerBase
    chat: ChatFormat
    mask_token_id: int | None
    """None when the tokenizer has none and the objective does not mask."""
    extra: dict[str, Any] = field(default_factory=dict)


class Objective:
    """Base class of every objective; subclasses set ``name`` and override ``make_sample``."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    uses_mask_ratio: ClassVar[bool] = False
    bidirectional: ClassVar[bool] = False
    task: ClassVar[Literal["knowledge", "math"]] = "knowledge"
    paraphrases: Literal["none", "same", "reordered", "both"] | None = None
    """Set (per class or per instance) to override ``data.paraphrases`` for this objective."""

    def __init__(self, context: Context, options: BaseModel | None = None) -> None:
        self.ctx = context
        self.options = options if options is not None else self.Options()

    # -- once per trial -------------------------------------------------------------
    def encode(self, corpus: Corpus) -> list[Example]:
        """Default: one example per training document (paraphrases are documents too)."""
        from platform.chat import encode_text

        return [
            Example(i, tuple(encode_text(self.ctx.tokenizer, doc.text)))
            for i, doc in enumerate(corpus.documents)
        ]

    # -- every epoch, in the data stream -------------------------------------------------
    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        raise NotImplementedError

    def qa_sample(self, prompt: list[int], completion: list[int], rng: np.random.Generator) -> Sample:
        """A supervised QA pair in this objective's family (base stage): loss on the completion."""
        return Sample(prompt + completion, [IGNORE] * len(prompt) + completion)

    # -- every step ----------------------------------------------------------------------
    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy over labelled positions (causal shift applied)."""
        shifted_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
        shifted_labels = labels[:, 1:].reshape(-1)
        return F.cross_entropy(shifted_logits.float(), shifted_labels, ignore_index=IGNORE)

    # -- evaluation ----------------------------------------------------------------------
    def generate(self, model: torch.nn.Module, questions: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
        """Answers to chat-format questions; default: batched greedy decoding with a KV cache."""
        from platform.evaluate import greedy_answers

        return greedy_answers(model, self.ctx.tokenizer, self.ctx.chat, questions, max_new_tokens, batch_size)


def mask_tokens(ids: tuple[int, ...], rng: np.random.Generator, t: float, mask_id: int) -> tuple[list[int], np.ndarray]:
    """Replace each token by ``mask_id`` independently with probability ``t`` (Bernoulli(t)).

    Returns the corrupted ids and the boolean mask of replaced positions.
    """
    masked = rng.random(len(ids)) < t
    corrupted = np.where(masked, mask_id, np.asarray(ids, dtype=np.int64))
    return corrupted.tolist(), masked
