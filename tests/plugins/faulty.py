"""Objectives that fail on purpose, named by dotted path in fault tests."""

from __future__ import annotations

import torch

from objectives.ar import AR


class NaNLossAR(AR):
    """``ar`` whose loss turns NaN: the trial must fail loudly, the others go on."""

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return super().loss(logits, labels, weights) * float("nan")
