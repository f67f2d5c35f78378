"""Where a trial's training loop runs: a Ray Train worker, or the Tune trial's own process.

Why two: a worker group (Train controller, workers, a Ray Data pipeline per trial) is what
DDP and DeepSpeed need, but for the common single-worker trial it is pure start-up cost —
tens of seconds per trial next to minute-long training (benchmarks/RESULTS.md, figure 6).
The loop in ``platform/worker.py`` is written once against this small interface: its rank,
the checkpoint to resume from, its micro-batches, how it reports, where its model lives.
Both sessions feed it the same planned rows through the same ``MicroBatchBuilder``, so the
same spec and seed give the same batches, masks and metrics on either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from platform.data.stream import MicroBatchBuilder, StreamPlan
from platform.run_writer import RunWriter
from platform.trial_config import TrialConfig


@contextlib.contextmanager
def checkpoint_directory(checkpoint) -> Iterator[Path | None]:
    """The local directory of the checkpoint to resume from (None: a first start)."""
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as directory:
        yield Path(directory)


class TrainWorkerSession:
    """One rank of a Ray Train worker group; its stream is the Ray Data shard of its rank."""

    def __init__(self) -> None:
        import ray.train

        context = ray.train.get_context()
        self.rank, self.world_size = context.get_world_rank(), context.get_world_size()

    def restored(self) -> contextlib.AbstractContextManager[Path | None]:
        import ray.train

        return checkpoint_directory(ray.train.get_checkpoint())

    def batches(self, start_epoch: int) -> Iterator[dict[str, Any]]:
        import ray.train

        shard = ray.train.get_dataset_shard(f"train_rank{self.rank}")
        for batch in shard.iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=4):
            if int(batch["epoch"][0]) >= start_epoch:
                yield {key: value[0] for key, value in batch.items()}

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        import ray.train

        ray.train.report(
            metrics, checkpoint=ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        )

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        import ray.train.torch

        return ray.train.torch.prepare_model(model)

    def mlflow_logger(self, config: TrialConfig) -> RunWriter:
        """Rank 0's: a writer of this worker's own, logging into the run its trial process started."""
        return RunWriter.for_process(config.tracking).open_logger(config.run_id)


class TrialProcessSession:
    """The whole trial in the Tune trial's process: rank 0 of 1, batches built as consumed,
    reports and checkpoints straight to Tune (which keeps, scores and restores them)."""

    rank, world_size = 0, 1

    def __init__(self, builder: MicroBatchBuilder, plan: StreamPlan, use_gpu: bool, writer: RunWriter) -> None:
        self.builder, self.plan, self.writer = builder, plan, writer
        # Ray sets CUDA_VISIBLE_DEVICES to the trial's own GPUs: the first visible is this trial's
        self.device = torch.device("cuda") if use_gpu and torch.cuda.is_available() else torch.device("cpu")

    def restored(self) -> contextlib.AbstractContextManager[Path | None]:
        import ray.tune

        return checkpoint_directory(ray.tune.get_checkpoint())

    def batches(self, start_epoch: int) -> Iterator[dict[str, Any]]:
        return self.builder.stream(replace(self.plan, start_epoch=start_epoch))

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        import ray.tune

        ray.tune.report(
            metrics, checkpoint=ray.tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        )

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device)

    def mlflow_logger(self, config: TrialConfig) -> RunWriter:
        """The writer that started the trial's run, handed over (not looked up: one that died
        since fails the trial as gone, instead of being replaced by one without the run)."""
        return self.writer.open_logger()
