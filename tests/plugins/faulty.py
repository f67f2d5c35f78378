"""Objectives that fail on purpose, named by dotted path in fault tests."""

from __future__ import annotations

import os
import signal

import torch

from objectives.ar import AR, AROptions


class NaNLossAR(AR):
    """``ar`` whose loss turns NaN: the trial must fail loudly, the others go on."""

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return super().loss(logits, labels, weights) * float("nan")


class MarkerOptions(AROptions):
    marker: str  # written when the process kills itself: the restarted attempt sees it and trains on


class KilledOnceAR(AR):
    """``ar`` whose training process SIGKILLs itself once, mid-epoch, at its 5th step.

    The ``marker`` file makes it happen on the first attempt only, so the restarted trial must
    resume from the last checkpoint and finish. An option, not an environment variable: trials
    get their cluster's environment, not the driver's.
    """

    Options = MarkerOptions
    steps = 0

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        KilledOnceAR.steps += 1
        marker = self.options.marker
        if KilledOnceAR.steps == 5 and not os.path.exists(marker):
            with open(marker, "w") as file:
                file.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().loss(logits, labels, weights)
