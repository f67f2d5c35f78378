"""Objectives that watch the process they train in, or pace it, named by dotted path in integration tests."""

from __future__ import annotations

import gc
import os
import time
import weakref

import torch

from objectives.ar import AR, AROptions


class ProbeOptions(AROptions):
    probe_file: str  # where each trial appends its process id


class ReleaseCheckingAR(AR):
    """``ar`` that fails a trial if a model of an earlier trial is still alive in its process.

    Tune reuses a trial's process for the next trial: a model (or its optimizer, or GPU
    memory) kept alive by the previous trial would accumulate until the process runs out of
    memory. Each trial's model is remembered weakly; each process's trials append their pid to
    the ``probe_file`` option, so the test sees that trials really shared a process. An option,
    not an environment variable: trials get their cluster's environment, not the driver's.
    """

    Options = ProbeOptions
    models: list[weakref.ref] = []

    def generate(self, model: torch.nn.Module, questions: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
        if not any(ref() is model for ref in ReleaseCheckingAR.models):  # a new trial's first evaluation
            gc.collect()
            alive = sum(ref() is not None for ref in ReleaseCheckingAR.models)
            if alive:
                raise RuntimeError(f"{alive} model(s) of earlier trials still alive in process {os.getpid()}")
            ReleaseCheckingAR.models.append(weakref.ref(model))
            with open(self.options.probe_file, "a", encoding="utf-8") as file:
                file.write(f"{os.getpid()}\n")
        return super().generate(model, questions, max_new_tokens, batch_size)


class PacedAR(AR):
    """``ar`` that rests 50 ms before each step's loss: a sweep that keeps training while a test
    examines the cluster around it, with its core nearly idle instead of busy, so that it
    does not slow down the test process beside it."""

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        time.sleep(0.05)
        return super().loss(logits, labels, weights)
