"""Objectives that fail on purpose, named by dotted path in fault tests."""

from __future__ import annotations

import os
import signal

import torch

from objectives.ar import AR


class NaNLossAR(AR):
    """``ar`` whose loss turns NaN: the trial must fail loudly, the others go on."""

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return super().loss(logits, labels, weights) * float("nan")


class KilledOnceAR(AR):
    """``ar`` whose training worker SIGKILLs itself once, mid-epoch, at its 5th step.

    The marker file (``KIP_FAULT_MARKER``) makes it happen on the first attempt only, so the
    restarted worker group must resume from the last checkpoint and finish the trial.
    """

    steps = 0

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        KilledOnceAR.steps += 1
        marker = os.environ.get("KIP_FAULT_MARKER")
        if marker and KilledOnceAR.steps == 5 and not os.path.exists(marker):
            with open(marker, "w") as file:
                file.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().loss(logits, labels, weights)
