"""Tune callbacks of the sweep driver: a compact live view, and closing stopped trials' runs.

Why a Tune callback instead of Tune's status tables: with dozens of metrics per result the
default tables run to pages; researchers want "which trial, which epoch, forward/backward,
best so far, time left". And a trial stopped by the scheduler (ASHA) is ended from outside,
so its MLflow run must be closed from here, with the reason.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from platform.logs import duration_text


def accuracy_text(result: dict) -> str:
    """``forward .. backward ..``; a math trial has no backward questions: ``exact match ..``."""
    forward, backward = result.get("forward_acc", math.nan), result.get("backward_acc", math.nan)
    if math.isnan(backward) and not math.isnan(forward):
        return f"exact match {forward:.2f}"
    return f"forward {forward:.2f}  backward {backward:.2f}"


class CompactProgress(Callback):
    def __init__(self, total_trials: int, epochs: int, concurrency: int = 1) -> None:
        self.total = total_trials
        self.epochs = epochs
        self.concurrency = max(1, concurrency)
        self.started = time.time()
        self.best: dict[str, float] = {}
        self.queued: dict[str, int] = {}
        self.remaining: dict[str, float] = {}
        """Seconds left per running trial, from its pace so far."""
        self.durations: dict[str, float] = {}
        """Projected (running) or measured (ended) seconds per trial: the pending trials' estimate."""

    def _label(self, trial) -> str:
        from platform.run_names import trial_name

        return f"{trial.trial_id} {trial_name(trial.config)}"

    def on_trial_start(self, iteration: int, trials: list, trial, **info: Any) -> None:
        print(f"[sweep] start  {self._label(trial)}", flush=True)

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info: Any) -> None:
        mean = result.get("selection_acc", 0.0)
        self.best[trial.trial_id] = max(self.best.get(trial.trial_id, 0.0), mean)
        epoch = int(result.get("epoch", 0))
        epochs = int(trial.config.get("train.epochs", self.epochs))  # a cell may set its own
        accuracy = accuracy_text(result)
        if epoch == 0:  # the evaluation before training: no loss yet, no pace to project
            print(f"[sweep] {self._label(trial)}  epoch {epoch:>4}/{epochs}  {accuracy}  (before training)", flush=True)
        else:
            elapsed = result.get("wall_time", 0.0)
            self.remaining[trial.trial_id] = elapsed / epoch * (epochs - epoch)
            self.durations[trial.trial_id] = elapsed / epoch * epochs
            print(
                f"[sweep] {self._label(trial)}  epoch {epoch:>4}/{epochs}  {accuracy}  loss "
                f"{result.get('loss', float('nan')):.3f}  "
                f"best {self.best[trial.trial_id]:.2f}  trial eta {duration_text(self.remaining[trial.trial_id])}"
                f"  sweep eta {duration_text(self._sweep_eta(trials))}",
                flush=True,
            )
        self._tracking_state(trial, int(result.get("mlflow_queued", 0)))

    def _sweep_eta(self, trials: list) -> float:
        """Running trials' time left plus the pending ones' at the mean trial duration so far,
        shared over the concurrent slots; the longest running trial bounds it from below."""
        ended = sum(1 for t in trials if t.status in ("TERMINATED", "ERROR"))
        running = [self.remaining.get(t.trial_id, 0.0) for t in trials if t.status == "RUNNING"]
        pending = max(0, self.total - ended - len(running))
        per_trial = sum(self.durations.values()) / max(1, len(self.durations))
        return max(max(running, default=0.0), (sum(running) + pending * per_trial) / self.concurrency)

    def _tracking_state(self, trial, queued: int) -> None:
        """The trial's MLflow outage as it happens (its worker queues records while the store is down)."""
        before = self.queued.get(trial.trial_id, 0)
        self.queued[trial.trial_id] = queued
        if queued and not before:
            print(
                f"[sweep] {self._label(trial)}  MLflow store unreachable: {queued} record(s) queued, "
                "training goes on and retries each evaluation",
                flush=True,
            )
        elif before and not queued:
            print(f"[sweep] {self._label(trial)}  MLflow store reachable again: queued records sent", flush=True)

    @staticmethod
    def _finished(trials: list, current) -> int:
        """Trials done, counting the one being reported (its status changes after callbacks)."""
        return sum(1 for t in trials if t is current or t.status in ("TERMINATED", "ERROR"))

    def on_trial_complete(self, iteration: int, trials: list, trial, **info: Any) -> None:
        self._tracking_state(trial, 0)  # a trial ends only once its queue reached MLflow
        self.remaining.pop(trial.trial_id, None)
        if trial.last_result.get("wall_time"):
            self.durations[trial.trial_id] = trial.last_result["wall_time"]
        print(
            f"[sweep] done   {self._label(trial)}  ({self._finished(trials, trial)}/{self.total} trials, "
            f"{time.time() - self.started:.0f}s)",
            flush=True,
        )

    def on_trial_error(self, iteration: int, trials: list, trial, **info: Any) -> None:
        print(
            f"[sweep] FAILED {self._label(trial)}  ({self._finished(trials, trial)}/{self.total} trials): "
            f"{failure_text(trial)}",
            flush=True,
        )

    def on_trial_recover(self, iteration: int, trials: list, trial, **info: Any) -> None:
        """A failed attempt that Tune retries: a line that says why, before the next ``start``
        (in a quiet log Tune's own traceback of the failure is hidden, see ``platform.logs``)."""
        print(
            f"[sweep] retry  {self._label(trial)}  after failure {trial.run_metadata.num_failures} "
            f"of {trial.max_failures + 1} allowed: {failure_text(trial)}",
            flush=True,
        )


def failure_text(trial) -> str:
    """``<the exception line> (details: <its error.txt>)``: how a retry and a FAILED line name the error."""
    return f"{error_summary(trial.local_path)} (details: {trial.local_path}/error.txt)"


def error_summary(trial_dir: str) -> str:
    """The failed trial's own exception line, from the traceback Tune saved (``error.txt``)."""
    try:
        lines = [
            line.strip()
            for line in Path(trial_dir, "error.txt").read_text(errors="replace").splitlines()
            if line.strip()
        ]
    except OSError:
        return "error"
    causes = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Unavailable|Interrupt)\b", line)]
    return (causes[-1] if causes else lines[-1] if lines else "error")[:300]


class CloseStoppedRuns(Callback):
    """Marks the MLflow run of a trial that ended without closing it (ASHA stop, lost actor)."""

    def __init__(self, tracking, experiment_id: str, sweep_id: str) -> None:
        self.tracking, self.experiment_id, self.sweep_id = tracking, experiment_id, sweep_id

    def _close(self, trial, status: str, reason: str) -> None:
        from platform.errors import ServiceUnavailable

        try:
            run_id = self.tracking.find_run(self.experiment_id, "trial_key", f"{self.sweep_id}/{trial.trial_id}")
            if run_id and self.tracking.client().get_run(run_id).info.status == "RUNNING":
                self.tracking.client().set_tag(run_id, "stop_reason", reason)
                self.tracking.end_run(run_id, status)
        except ServiceUnavailable as error:  # the sweep goes on; the run stays RUNNING, and we say so
            print(f"[sweep] could not mark {trial.trial_id}'s MLflow run {status}: {error}", flush=True)

    def on_trial_complete(self, iteration: int, trials: list, trial, **info: Any) -> None:
        self._close(trial, "KILLED", "early-stopped by the scheduler (ASHA)")

    def on_trial_error(self, iteration: int, trials: list, trial, **info: Any) -> None:
        self._close(trial, "FAILED", "error")
