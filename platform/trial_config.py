"""What a trial's training loop receives, and the function a Ray Train worker starts in.

Why a module of its own, importing neither torch nor transformers: the trial builds this
config (``platform/trial.py``) and Ray pickles it, with the entry function, to Ray Train's
controller and to each worker; unpickling imports the modules that define them. Defined
beside the loop (``platform/worker.py``: torch, transformers' models, DeepSpeed), they made the
controller and the trial's own coordinating process import the whole training stack, seconds
of CPU per multi-worker trial in processes that never train (benchmarks/FINDINGS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from platform.data.corpus import Question
from platform.spec import ExperimentSpec
from platform.tracking import Tracking


@dataclass(frozen=True)
class TrialConfig:
    """What the loop needs from its trial (``platform/trial.py`` builds it once; Ray pickles it
    to each worker): the trial's validated spec, where its model and objective come from, the
    question sets, where to log, and the step counts the optimizer schedule needs."""

    spec: ExperimentSpec
    model_dir: str
    objective_ref: str
    """``module:Class`` of the objective (``objectives.registry.resolve``)."""
    questions: tuple[Question, ...]
    """The test questions scored at every evaluation."""
    retention_questions: tuple[Question, ...]
    validation_questions: tuple[Question, ...]
    """Held-out entities that pick the best epoch (empty: the test questions do)."""
    tracking: Tracking
    run_id: str | None
    """The trial's MLflow run, created by the trial; rank 0 logs into it. None when rank 0 is
    the trial's own process: its writer (``platform.run_writer``) holds the run it started."""
    total_steps: int
    micro_batch: int


def train_on_worker(config: dict[str, TrialConfig]) -> None:
    """``TorchTrainer(train_loop_per_worker=...)``: Ray Train hands its workers a dict."""
    from platform.worker import train_loop

    train_loop(config["trial"])
