"""A compact live view of a sweep: one line per evaluation and per finished trial.

Why a Tune callback instead of Tune's status tables: with dozens of metrics per result the
default tables run to pages; researchers want "which trial, which epoch, forward/backward,
best so far, time left".
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Callback


class CompactProgress(Callback):
    def __init__(self, total_trials: int, epochs: int) -> None:
        self.total = total_trials
        self.epochs = epochs
        self.started = time.time()
        self.best: dict[str, float] = {}

    def _label(self, trial) -> str:
        from platform.trial import trial_name

        return f"{trial.trial_id} {trial_name(trial.config)}"

    def on_trial_start(self, iteration: int, trials: list, trial, **info: Any) -> None:
        print(f"[sweep] start  {self._label(trial)}", flush=True)

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info: Any) -> None:
        mean = result.get("mean_acc", 0.0)
        self.best[trial.trial_id] = max(self.best.get(trial.trial_id, 0.0), mean)
        epoch = int(result.get("epoch", 0))
        elapsed = result.get("wall_time", 0.0)
        eta = elapsed / max(epoch, 1) * (self.epochs - epoch)
        print(
            f"[sweep] {self._label(trial)}  epoch {epoch:>4}/{self.epochs}  "
            f"forward {result.get('forward_acc', float('nan')):.2f}  backward {result.get('backward_acc', float('nan')):.2f}  "
            f"loss {result.get('loss', float('nan')):.3f}  best mean {self.best[trial.trial_id]:.2f}  trial eta {eta:4.0f}s",
            flush=True,
        )

    @staticmethod
    def _finished(trials: list, current) -> int:
        """Trials done, counting the one being reported (its status changes after callbacks)."""
        return sum(1 for t in trials if t is current or t.status in ("TERMINATED", "ERROR"))

    def on_trial_complete(self, iteration: int, trials: list, trial, **info: Any) -> None:
        print(f"[sweep] done   {self._label(trial)}  ({self._finished(trials, trial)}/{self.total} trials, {time.time() - self.started:.0f}s)", flush=True)

    def on_trial_error(self, iteration: int, trials: list, trial, **info: Any) -> None:
        print(f"[sweep] FAILED {self._label(trial)}  ({self._finished(trials, trial)}/{self.total} trials): see {trial.local_path}/error.txt", flush=True)
