"""The objective interface: everything a plugin author needs to read (``docs/objectives.md``
walks through examples; ``python -m objectives.conformance NAME`` checks a plugin).

An objective turns the corpus into training sequences, says where the loss goes and how the
model answers. The platform calls it in four places, each with one job:

1. ``encode(corpus) -> list[Example]``, once per trial in the trial's process: the fixed,
   tokenized examples (one per document, paraphrase or problem), numbered by their index.
2. ``make_sample(example, rng, t) -> Sample``, for every example *every epoch*, in the data
   stream: the corrupted input, the labels (``IGNORE``: no loss) and a weight. Draw every
   random number from ``rng``: it is seeded from (seed, epoch, example), so masks are
   reproducible whatever the number of workers and change every epoch. ``t`` is the mask
   ratio drawn from ``objective.mask_ratio`` (ignore it if you do not mask).
3. ``loss(logits, labels, weights) -> scalar tensor``, every step, on a batch of collated
   samples (``labels`` right-padded with ``IGNORE``, ``weights`` the samples' ``weight``). The
   default is the next-token cross-entropy over labelled tokens (the causal shift is applied
   here, so a causal objective's labels are its input ids), each token weighted by its
   sequence's weight; override it for other losses (``masked_diffusion``: no shift, 1/t).
4. ``generate(model, questions, max_new_tokens, batch_size) -> list[str]``, at every
   evaluation: the answers to chat-format questions (default: batched greedy decoding);
   override it for other samplers (``masked_diffusion``'s low-confidence remasking).

Where state lives. An objective is built from a ``Context`` and its validated options. The
instance that ran ``encode`` is the one the stream uses: it is pickled into the stream's
processes after ``encode``, so whatever ``__init__`` or ``encode`` set is there in
``make_sample``; what ``make_sample`` sets stays in the process that set it, so keep no state
across samples. ``loss`` and ``generate`` run in the training processes on an instance built
afresh from the same context and options (``encode`` not called): they may use what
``__init__`` sets, not what ``encode`` sets.

Building sequences. ``self.ctx`` has the tokenizer, the chat layout as token pieces
(``chat.user_prefix``, ``chat.assistant_header``, ``chat.end_of_turn``), the mask token id,
``ctx.encode(text)`` (ids without special tokens) and ``ctx.bos_id`` / ``ctx.eos_id`` (BOS is
None for tokenizers without one, such as Qwen's: start with the text then). Assemble prompts
from these pieces, never from a hard-coded template: the same objective then runs on the
embedded model, SmolLM2, Llama and Qwen. The paper's instruction texts are exported below
(``MASKED_PASSAGE_INSTRUCTION`` and the rest); the embedded word-level tokenizer knows their
words, and other new words are out of its vocabulary (``<unk>``), which the checks before a
sweep report.

Class attributes and hooks, each with what it switches:

- ``name`` (required): what specs call it. ``Options``: a pydantic model of its options
  (``extra="forbid"``), validated into ``self.options``.
- ``uses_mask_ratio``: ``objective.mask_ratio`` applies to it (the sweep varies the mask
  ratio only for such objectives; the others get t = 0.5, ignored).
- ``bidirectional``: the model runs without a causal mask, in training and generation.
- ``paraphrases``: which paraphrase set the trial loads into ``corpus.documents`` (None: the
  spec's ``data.paraphrases``); per class, or per instance from the options.
- ``base_stage()``: which embedded base model the objective fine-tunes (the embedded model
  only; a pretrained model is used as it is): the causal one, pre-trained on ``ar``'s and
  ``masked_ar``'s formats, unless overridden (``masked_diffusion`` returns the bidirectional
  one, trained on its own format; ``sft`` and ``masked_sft`` the math one, trained on known
  problems in their two formats). A stage of your own gets a base model of its own. A stage
  reads the known part of the world its trials fine-tune on (known entities' documents and
  QA, or known problems): every trial of a sweep that shares a stage must use one world.
- ``test_questions(corpus)`` / ``retention_questions(corpus)``: what the trial is scored on
  at every evaluation (default: the corpus's questions about the new entities, and about
  the known ones for forgetting); math objectives return the test problems and none.
- ``task``: a label only (``"knowledge"`` or ``"math"``): the conformance kit picks its test
  corpus by it. What a math objective trains and is scored on is its ``encode`` and
  ``test_questions`` (``objectives/sft.py``'s ``MathObjective``).

Masking objectives subclass ``MaskingObjective`` and build their layout around
``self.corrupt(ids, rng, t)``; a new masking scheme overrides that one hook (see its docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from platform.chat import (
    FACT_REQUEST,
    MASKED_ANSWER_INSTRUCTION,
    MASKED_PASSAGE_INSTRUCTION,
    RECOVERED_PREFIX,
    ChatFormat,
    encode_text,
)
from platform.data.corpus import Corpus, Question
from platform.data.samples import IGNORE, Example, Sample

if TYPE_CHECKING:  # torch loads where a model trains or answers, not where specs are checked
    import torch
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "FACT_REQUEST",
    "IGNORE",
    "MASKED_ANSWER_INSTRUCTION",
    "MASKED_PASSAGE_INSTRUCTION",
    "RECOVERED_PREFIX",
    "BaseStage",
    "Context",
    "Example",
    "MaskingObjective",
    "NoOptions",
    "Objective",
    "Sample",
    "mask_tokens",
]


class NoOptions(BaseModel):
    """Objectives without options still reject unknown keys."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Context:
    """What an objective may use: the tokenizer, its chat layout and the mask token."""

    tokenizer: PreTrainedTokenizerBase
    chat: ChatFormat
    mask_token_id: int | None
    """None when the tokenizer has none and the objective does not mask."""

    def encode(self, text: str) -> list[int]:
        """Plain text to ids, no special tokens added: a piece for the objective to assemble."""
        return encode_text(self.tokenizer, text)

    @property
    def bos_id(self) -> int | None:
        """The beginning-of-sequence token, or None where the tokenizer has none (Qwen)."""
        return self.tokenizer.bos_token_id

    @property
    def eos_id(self) -> int:
        return self.tokenizer.eos_token_id


@dataclass(frozen=True)
class BaseStage:
    """An embedded base model: what a model built from config is pre-trained on before any
    trial (``platform/base_training.py``), so that it can read the formats and answer questions
    about entities it only read, as a pretrained instruct model can. Built once, cached, shared
    by every trial whose objective names the same stage."""

    name: str
    """The cache's and the sweep's name for it (``causal``, ``bidirectional``, ``math``)."""
    formats: tuple[type[Objective], ...]
    """The objectives whose document samples the base model trains on, each every epoch; QA
    pairs use the first one's ``qa_sample``, and its ``loss`` and ``generate``."""

    def __post_init__(self) -> None:
        if len({objective.bidirectional for objective in self.formats}) != 1:
            raise ValueError(f"base stage {self.name!r} mixes causal and bidirectional formats")

    @property
    def bidirectional(self) -> bool:
        return self.formats[0].bidirectional


class Objective:
    """Base class of every objective; subclasses set ``name`` and override ``make_sample``."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    uses_mask_ratio: ClassVar[bool] = False
    bidirectional: ClassVar[bool] = False
    task: ClassVar[Literal["knowledge", "math"]] = "knowledge"
    paraphrases: Literal["none", "same", "reordered", "both"] | None = None

    def __init__(self, context: Context, options: BaseModel | None = None) -> None:
        self.ctx = context
        self.options = options if options is not None else self.Options()

    @classmethod
    def base_stage(cls) -> BaseStage:
        """The causal base model, taught ``ar``'s and ``masked_ar``'s document formats."""
        from objectives.ar import AR
        from objectives.masked_ar import MaskedAR

        return BaseStage("causal", (AR, MaskedAR))

    # -- once per trial -------------------------------------------------------------------
    def encode(self, corpus: Corpus) -> list[Example]:
        """Default: one example per training document (paraphrases are documents too)."""
        return [Example(i, tuple(self.ctx.encode(doc.text))) for i, doc in enumerate(corpus.documents)]

    def test_questions(self, corpus: Corpus) -> list[Question]:
        """What every evaluation scores (forward and backward questions about the new entities)."""
        return list(corpus.questions)

    def retention_questions(self, corpus: Corpus) -> list[Question]:
        """Questions about the known entities, to measure forgetting (none: not measured)."""
        return list(corpus.retention_questions)

    # -- every epoch, in the data stream ------------------------------------------------------
    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        raise NotImplementedError

    def qa_sample(self, prompt: list[int], completion: list[int], rng: np.random.Generator) -> Sample:
        """A supervised QA pair in this objective's family (base stage): loss on the completion."""
        return Sample(prompt + completion, [IGNORE] * len(prompt) + completion)

    # -- every step ---------------------------------------------------------------------------
    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy over labelled positions (causal shift applied), each token
        weighted by its sequence's weight: sum(w * loss) / sum(w) over labelled tokens.

        Equal weights give the plain token mean, taken as PyTorch's mean reduction (bit for bit
        what unweighted training computed; no host sync decides between the two).
        """
        import torch
        import torch.nn.functional as F

        log_probs = F.log_softmax(logits[:, :-1].float(), dim=-1).flatten(0, 1)
        targets = labels[:, 1:].reshape(-1)
        mean = F.nll_loss(log_probs, targets, ignore_index=IGNORE)
        per_token = F.nll_loss(log_probs, targets, ignore_index=IGNORE, reduction="none")
        token_weights = (weights.float()[:, None] * (labels[:, 1:] != IGNORE)).reshape(-1)
        weighted = (per_token * token_weights).sum() / token_weights.sum()
        return torch.where((weights == weights[0]).all(), mean, weighted)

    # -- evaluation ---------------------------------------------------------------------------
    def generate(self, model: torch.nn.Module, questions: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
        """Answers to chat-format questions; default: batched greedy decoding with a KV cache."""
        from platform.decoding import greedy_answers

        return greedy_answers(model, self.ctx.tokenizer, self.ctx.chat, questions, max_new_tokens, batch_size)


class MaskingObjective(Objective):
    """An objective that corrupts tokens at ratio t: ``masked_ar``, ``masked_sft``,
    ``masked_diffusion`` and their controls build their layouts around ``corrupt``.

    The one hook is ``corrupt(ids, rng, t) -> (corrupted ids, boolean array of the positions
    it changed)``. The default replaces each token by the mask token with probability t
    (Bernoulli(t)), and with ``mask_at_least_one`` masks one position chosen by ``rng`` when the
    draw masked none (so every sample carries loss). Override it for another scheme, e.g.
    contiguous spans (``examples/kip-plugin-example``) or random tokens (``random_ar``); the
    layout, the loss mask and the loss stay the objective's.
    """

    uses_mask_ratio = True
    mask_at_least_one: ClassVar[bool] = False

    def corrupt(self, ids: Sequence[int], rng: np.random.Generator, t: float) -> tuple[list[int], np.ndarray]:
        corrupted, masked = mask_tokens(tuple(ids), rng, t, self.ctx.mask_token_id)
        if self.mask_at_least_one and not masked.any():
            position = int(rng.integers(len(ids)))
            corrupted[position] = self.ctx.mask_token_id
            masked[position] = True
        return corrupted, masked


def mask_tokens(ids: tuple[int, ...], rng: np.random.Generator, t: float, mask_id: int) -> tuple[list[int], np.ndarray]:
    """Replace each token by ``mask_id`` independently with probability ``t`` (Bernoulli(t)).

    Returns the corrupted ids and the boolean mask of replaced positions.
    """
    masked = rng.random(len(ids)) < t
    corrupted = np.where(masked, mask_id, np.asarray(ids, dtype=np.int64))
    return corrupted.tolist(), masked
