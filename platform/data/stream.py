"""The Ray Data stream of training micro-batches, masked afresh every epoch.

Why one row per (epoch, step, rank) micro-batch: every rank must take the same number of
steps (collectives in DDP/DeepSpeed), batch boundaries must align with optimizer steps, and
the global batch at a step must not depend on the number of workers. The driver plans which
examples form each global batch (a per-epoch permutation from the seed) and splits it
across ranks; Ray Data then builds the corrupted samples lazily, in parallel with training,
seeding each sample from (seed, epoch, example). Same spec and seed: same masks, same batches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from platform.data import mask_ratio
from platform.data.samples import IGNORE, Example, Sample
from platform.spec import MaskRatioSpec

_PERMUTATION_STREAM = 0x5EED


class SampleMaker(Protocol):
    """What the stream needs of an objective (every ``objectives.base.Objective`` is one): the
    per-epoch sample of an example, and its context for the tokenizer's padding id."""

    ctx: Any

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample: ...


@dataclass(frozen=True)
class StreamPlan:
    """Everything that decides which example lands in which micro-batch."""

    num_examples: int
    epochs: int
    global_batch: int
    num_workers: int
    seed: int
    start_epoch: int = 0

    def steps_per_epoch(self) -> int:
        full, rest = divmod(self.num_examples, self.global_batch)
        return full + (1 if rest >= self.num_workers else 0)

    def rows(self, rank: int) -> list[dict[str, Any]]:
        """The micro-batches of one rank, epoch-major, from ``start_epoch`` on."""
        rows = []
        for epoch in range(self.start_epoch, self.epochs):
            order = np.random.default_rng([self.seed, epoch, _PERMUTATION_STREAM]).permutation(self.num_examples)
            for step in range(self.steps_per_epoch()):
                batch = order[step * self.global_batch : (step + 1) * self.global_batch]
                share = np.array_split(batch, self.num_workers)[rank]
                rows.append({"epoch": epoch, "step": step, "example_ids": share.astype(np.int64)})
        return rows


def collate(samples: list[Sample], pad_id: int) -> dict[str, np.ndarray]:
    """Right-pad a micro-batch to its own longest sequence (no wasted tokens across batches)."""
    length = max(len(s.input_ids) for s in samples)
    input_ids = np.full((len(samples), length), pad_id, dtype=np.int64)
    labels = np.full((len(samples), length), IGNORE, dtype=np.int64)
    attention = np.zeros((len(samples), length), dtype=np.int64)
    for i, sample in enumerate(samples):
        n = len(sample.input_ids)
        input_ids[i, :n] = sample.input_ids
        labels[i, :n] = sample.labels
        attention[i, :n] = 1
    weights = np.array([s.weight for s in samples], dtype=np.float32)
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention, "weights": weights}


class MicroBatchBuilder:
    """The per-epoch corruption, run inside Ray Data's ``map_batches`` (and in tests directly)."""

    def __init__(
        self, objective: SampleMaker, examples: list[Example], ratio: MaskRatioSpec, seed: int, epochs: int
    ) -> None:
        self.objective = objective
        self.examples = examples
        self.ratio = ratio
        self.seed = seed
        self.epochs = epochs
        self.pad_id = objective.ctx.tokenizer.pad_token_id

    def samples(self, epoch: int, step: int, example_ids: np.ndarray) -> tuple[list[Sample], float]:
        t = mask_ratio.draw(self.ratio, mask_ratio.batch_generator(self.seed, epoch, step), epoch, self.epochs)
        samples = []
        for example_id in example_ids.tolist():
            rng = mask_ratio.sample_generator(self.seed, epoch, example_id)
            sample_t = mask_ratio.draw(self.ratio, rng, epoch, self.epochs) if self.ratio.per == "sample" else t
            samples.append(self.objective.make_sample(self.examples[example_id], rng, sample_t))
        return samples, t

    def micro_batch(self, epoch: int, step: int, example_ids: np.ndarray) -> dict[str, Any]:
        """One planned row, corrupted and padded: what a training step consumes."""
        samples, t = self.samples(epoch, step, example_ids)
        return {**collate(samples, self.pad_id), "epoch": epoch, "step": step, "t": t}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        out: dict[str, list[Any]] = {
            "epoch": [],
            "step": [],
            "t": [],
            "input_ids": [],
            "labels": [],
            "attention_mask": [],
            "weights": [],
        }
        for epoch, step, example_ids in zip(batch["epoch"], batch["step"], batch["example_ids"], strict=True):
            for key, value in self.micro_batch(int(epoch), int(step), example_ids).items():
                out[key].append(value)
        return {key: np.array(value) if key in ("epoch", "step", "t") else value for key, value in out.items()}

    def stream(self, plan: StreamPlan) -> Iterator[dict[str, Any]]:
        """The single worker's micro-batches in the trial's own process: the rows and masks
        Ray Data's pipeline yields (same plan, same builder), built as they are consumed."""
        for row in plan.rows(0):
            yield self.micro_batch(row["epoch"], row["step"], row["example_ids"])


def quiet_ray_data() -> None:
    """Ray Data prints an execution banner and progress bars per epoch: keep job logs readable."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.execution_options.preserve_order = True
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def build_streams(builder: MicroBatchBuilder, plan: StreamPlan) -> dict[str, Any]:
    """One lazily-evaluated dataset per rank, named ``train_rank{r}`` for Ray Train."""
    import ray.data

    quiet_ray_data()
    streams = {}
    for rank in range(plan.num_workers):
        rows = plan.rows(rank)
        streams[f"train_rank{rank}"] = ray.data.from_items(
            rows, override_num_blocks=max(1, min(len(rows) // 64, 200))
        ).map_batches(
            builder, batch_size=16, num_cpus=0, compute=ray.data.TaskPoolStrategy(size=1), batch_format="numpy"
        )
    return streams
