"""``masked_diffusion``: LLaDA-style masked diffusion on a bidirectional model (docs/method.md).

Training example: ``BOS + document + EOS``; BOS is never masked, every other token is
replaced by the mask token with probability p = (1 - eps) t + eps (LLaDA's recipe: p > 0
keeps the 1/p weight finite), and at least one is masked so every sample carries loss. Loss:
cross-entropy at the masked positions only, with no causal shift (a bidirectional model
predicts the token at its own position), each sequence weighted
by 1 / (p L) with L its maskable length (the 1/t weighting of the masked-diffusion ELBO),
averaged over the batch.

Evaluation: LLaDA's low-confidence remasking sampler with semi-autoregressive blocks. The
answer starts as all mask tokens after the chat prompt; block by block, left to right, each
step commits the most confident greedy predictions of the block's masked positions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from objectives.base import IGNORE, BaseStage, Example, MaskingObjective, Sample
from platform.chat import prompt_ids

if TYPE_CHECKING:  # torch is imported by the methods that train or answer: the sweep's checks
    import torch  # and the data stream use this module without it


class MaskedDiffusionOptions(BaseModel):
    """Sampler settings (the paper's dLLM decoding defaults) and LLaDA's mask-probability floor."""

    model_config = ConfigDict(extra="forbid")
    steps: int = Field(128, gt=0)
    gen_length: int = Field(128, gt=0)
    block_length: int = Field(4, gt=0)
    eps: float = Field(1e-3, gt=0, le=1)
    """p = (1 - eps) t + eps: keeps the 1/p weight finite when t is near 0."""


class MaskedDiffusion(MaskingObjective):
    name = "masked_diffusion"
    Options = MaskedDiffusionOptions
    bidirectional = True
    mask_at_least_one = True
    """Every sample carries loss, so the 1/(p L) weight always multiplies something."""

    @classmethod
    def base_stage(cls) -> BaseStage:
        """The bidirectional base model, taught this objective's format and its QA samples."""
        return BaseStage("bidirectional", (MaskedDiffusion,))

    # -- training samples ------------------------------------------------------------------
    def mask_probability(self, t: float) -> float:
        """LLaDA's p = (1 - eps) t + eps."""
        eps = self.options.eps
        return (1 - eps) * t + eps

    def masked_labels(self, ids: list[int], rng: np.random.Generator, p: float) -> tuple[list[int], list[int]]:
        """``corrupt`` at probability p; labels are the originals at masked positions only."""
        corrupted, masked = self.corrupt(ids, rng, p)
        return corrupted, np.where(masked, np.asarray(ids, dtype=np.int64), IGNORE).tolist()

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        """``BOS + document + EOS`` with BOS never masked; weight 1 / (p L), L = maskable tokens."""
        maskable = [*example.ids, self.ctx.eos_id]
        p = self.mask_probability(t)
        corrupted, labels = self.masked_labels(maskable, rng, p)
        return Sample([self.ctx.bos_id, *corrupted], [IGNORE, *labels], weight=1.0 / (p * len(maskable)))

    def qa_sample(self, prompt: list[int], completion: list[int], rng: np.random.Generator) -> Sample:
        """LLaDA SFT: the prompt is never masked; the completion is masked at p with t ~ U(0, 1).

        Weight 1 / (p * len(completion)): the completion is the maskable part.
        """
        p = self.mask_probability(float(rng.uniform(0.0, 1.0)))
        corrupted, labels = self.masked_labels(completion, rng, p)
        return Sample([*prompt, *corrupted], [IGNORE] * len(prompt) + labels, weight=1.0 / (p * len(completion)))

    # -- loss ------------------------------------------------------------------------------
    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Masked-position cross-entropy summed per sequence, times its weight, batch mean.

        No causal shift: the bidirectional model predicts the token at its own position. Float32
        so bf16 logits do not lose the small per-token terms before the weighted sum.
        """
        import torch.nn.functional as F

        per_token = F.cross_entropy(
            logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE, reduction="none"
        )
        per_sequence = per_token.view(labels.shape).sum(dim=1)
        return (per_sequence * weights.float()).sum() / labels.shape[0]

    # -- evaluation ------------------------------------------------------------------------
    def generation_length(self, max_new_tokens: int) -> int:
        """min(gen_length, max_new_tokens) rounded up to whole blocks: evaluation bounds the cost."""
        block = self.options.block_length
        return math.ceil(min(self.options.gen_length, max_new_tokens) / block) * block

    def generate(self, model: torch.nn.Module, questions: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
        """Low-confidence remasking, semi-autoregressive blocks, temperature 0 (docs/method.md)."""
        import torch

        was_training = model.training
        model.eval()
        try:
            length = self.generation_length(max_new_tokens)
            answers: list[str] = []
            with torch.no_grad():
                for start in range(0, len(questions), batch_size):
                    answers += self._answer_batch(model, questions[start : start + batch_size], length, max_new_tokens)
        finally:
            model.train(was_training)
        return answers

    def _stop_ids(self) -> list[int]:
        return sorted({*self.ctx.chat.end_of_turn[-1:], self.ctx.tokenizer.eos_token_id} - {None})

    def _initial_batch(
        self, questions: list[str], length: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded prompts followed by ``length`` mask tokens, and the padding mask.

        Left padding puts every generation region at the same columns, so blocks are shared
        slices of the batch.
        """
        import torch

        tok = self.ctx.tokenizer
        prompts = [prompt_ids(tok, self.ctx.chat, q) for q in questions]
        width = max(len(p) for p in prompts) + length
        input_ids = torch.full((len(prompts), width), tok.pad_token_id, dtype=torch.long)
        padding = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, prompt in enumerate(prompts):
            row = [*prompt, *[self.ctx.mask_token_id] * length]
            input_ids[i, width - len(row) :] = torch.tensor(row)
            padding[i, width - len(row) :] = 1
        return input_ids.to(device), padding.to(device)

    def _answer_batch(
        self, model: torch.nn.Module, questions: list[str], length: int, max_new_tokens: int
    ) -> list[str]:
        """Sample one batch; answers keep at most ``max_new_tokens`` tokens, like greedy decoding."""
        import torch

        from platform.models import model_inputs

        x, padding = self._initial_batch(questions, length, next(model.parameters()).device)
        positions = (padding.cumsum(dim=1) - 1).clamp(min=0)  # as in training: real tokens count from 0
        inputs = model_inputs(model, x, padding, positions)  # holds x itself: steps update it in place
        start = x.shape[1] - length
        block = self.options.block_length
        steps_per_block = max(1, self.options.steps * block // length)
        stop = torch.tensor(self._stop_ids(), device=x.device)
        for lo in range(start, x.shape[1], block):
            for step in range(steps_per_block):
                if not self._commit_step(model, x, inputs, slice(lo, lo + block), steps_per_block - step):
                    break
            if torch.isin(x[:, start : lo + block], stop).any(dim=1).all():
                break  # every answer has ended inside committed blocks: later blocks cannot change it
        return [self._decode(row) for row in x[:, start : start + max_new_tokens].tolist()]

    def _commit_step(
        self, model: torch.nn.Module, x: torch.Tensor, inputs: dict, block: slice, steps_left: int
    ) -> bool:
        """One sampler step on ``x`` in place; False (no model call) once the block is filled.

        Each row commits its k most confident masked positions of the block, k = ceil(masked /
        steps left) (LLaDA's even split). The mask token is excluded from the argmax: it is an
        input symbol, never a target, and committing it would leave the position masked.
        """
        import torch

        masked = x[:, block] == self.ctx.mask_token_id
        remaining = masked.sum(dim=1)
        if not remaining.any():
            return False
        logits = model(**inputs).logits[:, block].float()
        logits[..., self.ctx.mask_token_id] = -torch.inf
        confidence, prediction = logits.softmax(dim=-1).max(dim=-1)
        confidence = confidence.masked_fill(~masked, -1.0)
        rank = confidence.argsort(dim=1, descending=True, stable=True).argsort(dim=1)
        k = (remaining + steps_left - 1) // steps_left
        commit = masked & (rank < k[:, None])
        x[:, block] = torch.where(commit, prediction, x[:, block])
        return True

    def _decode(self, row: list[int]) -> str:
        """The generated text up to the first end-of-turn or EOS, special tokens skipped."""
        stop = set(self._stop_ids())
        cut = next((i for i, token in enumerate(row) if token in stop), len(row))
        return self.ctx.tokenizer.decode(row[:cut], skip_special_tokens=True).strip()
