"""Shared setup of the benchmarks: a fresh tiny tokenizer and model, the world, the batches.

Nothing here reads the base-model cache: every benchmark starts from ``build_tiny_model``
and ``build_word_tokenizer(vocabulary_texts())``, so the numbers do not depend on what a
previous sweep left on disk. Batches are produced exactly as the trial produces them: a
``StreamPlan`` for one worker, ``MicroBatchBuilder`` called on chunks of 16 plan rows (the
``map_batches`` batch size of ``platform.data.stream.build_streams``).
"""

from __future__ import annotations

import copy
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from objectives.base import Example, Objective
from objectives.registry import instantiate, load_reference, resolve
from platform.data.corpus import Corpus
from platform.data.sources import load_corpus
from platform.data.stream import MicroBatchBuilder, StreamPlan
from platform.data.worlds import vocabulary_texts
from platform.models import build_tiny_model, set_bidirectional
from platform.spec import ExperimentSpec, TinyModelConfig, load_spec
from platform.tokenization import build_word_tokenizer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO / "search_spaces" / "defaults.yaml"
MAP_BATCHES_SIZE = 16
"""Plan rows per ``MicroBatchBuilder`` call: the ``batch_size`` of ``build_streams``' map_batches."""
LARGE_MODEL = TinyModelConfig(hidden_size=512, num_layers=6, num_heads=8, intermediate_size=1408)
"""About 10x the parameters of the default tiny model (figure 2)."""

Batch = dict[str, np.ndarray]


@dataclass
class Figure:
    """One measured figure and the baseline it is compared with."""

    key: str
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    baseline_unit: str
    ratio: float
    target: str = ""
    met: bool | None = None
    notes: str = ""

    def line(self) -> str:
        """``name: value unit (ratio x vs baseline)``: the console line."""
        return (
            f"[{self.key}] {self.name}: {fmt(self.value)} {self.unit} "
            f"({self.ratio:.3g}x vs {self.baseline_name} = {fmt(self.baseline_value)} {self.baseline_unit})"
            + (
                f"  target {self.target}: {'met' if self.met else 'NOT met'}"
                if self.target and self.met is not None
                else ""
            )
        )


@dataclass
class Settings:
    """Sizes of one run: ``quick`` shrinks every repetition count for CI."""

    quick: bool
    threads: int
    reps: int = 7
    epochs: int = 10
    """Epochs of the training plan (3 steps each on the 48 new-entity documents)."""
    large_steps: int = 6
    eval_questions: int | None = None
    """None: every test question of the world."""
    stream_epochs: int = 100
    sweep_epochs: int = 1000
    """About a minute of training per tiny.yaml trial in its own process on one core (the
    target's "trials of a minute"; 500 epochs trained for 29 s there, 58 s on a worker group)."""
    short_sweep_epochs: int = 170
    """About 10 s of training per tiny.yaml trial (the target's short trials)."""
    memory_epochs: int = 20
    max_wait: float = 900.0
    """Seconds to wait, before each benchmark, for the load average to fall below the core count."""
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, quick: bool, threads: int) -> Settings:
        if quick:
            return cls(
                quick,
                threads,
                reps=3,
                epochs=2,
                large_steps=2,
                eval_questions=24,
                stream_epochs=4,
                memory_epochs=2,
                max_wait=0.0,
            )
        return cls(quick, threads)


def wait_for_quiet(max_wait: float, threshold: float, poll: float = 10.0) -> float:
    """Wait (up to ``max_wait`` s) until the 1-minute load average is below ``threshold``.

    On a shared machine other people's jobs skew every throughput; the figures are ratios
    measured close in time, but a quiet machine still gives the steadiest numbers. Returns
    the load average when the wait ended (measured anyway after ``max_wait``).
    """
    deadline = time.monotonic() + max_wait
    load = os.getloadavg()[0]
    announced = False
    while load >= threshold and time.monotonic() < deadline:
        if not announced:
            print(
                f"... waiting for a quieter machine (load average {load:.1f} >= {threshold}, at most {max_wait:.0f} s)",
                flush=True,
            )
            announced = True
        time.sleep(poll)
        load = os.getloadavg()[0]
    return load


def fmt(value: float) -> str:
    """Three significant digits, no exponent for everyday magnitudes."""
    if value != value:  # NaN
        return "nan"
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.3e}"


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of ``fn()`` (perf_counter) and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


class Workbench:
    """The spec, tokenizer, corpus and objectives every benchmark shares (built once)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.spec: ExperimentSpec = load_spec(DEFAULT_SPEC)

    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerFast:
        return build_word_tokenizer(vocabulary_texts())

    @cached_property
    def corpus(self) -> Corpus:
        """The name_description world's injection corpus: new-entity documents and test questions."""
        return load_corpus(self.spec.data)

    def objective(self, name: str) -> Objective:
        return instantiate(load_reference(resolve(name)), self.tokenizer, self.spec)

    def examples(self, objective: Objective) -> list[Example]:
        return objective.encode(load_corpus(self.spec.data, objective.paraphrases))

    def model(self, config: TinyModelConfig | None = None, bidirectional: bool = False) -> LlamaForCausalLM:
        """A freshly initialised tiny Llama (same seed, so the same weights every call)."""
        model = build_tiny_model(config or self.spec.model.tiny, self.tokenizer, self.seed)
        if bidirectional:
            set_bidirectional(model)
        return model

    def plan(self, objective: Objective, epochs: int) -> StreamPlan:
        train = self.spec.train
        return StreamPlan(len(self.examples(objective)), epochs, train.batch_size, 1, train.seed)

    def builder(self, objective: Objective, epochs: int) -> MicroBatchBuilder:
        train = self.spec.train
        return MicroBatchBuilder(
            objective, self.examples(objective), self.spec.objective.mask_ratio, train.seed, epochs
        )

    def batches(self, objective: Objective, epochs: int) -> list[Batch]:
        """Every micro-batch of one worker's stream, as ``MicroBatchBuilder`` emits them."""
        builder = self.builder(objective, epochs)
        return [row for chunk in plan_chunks(self.plan(objective, epochs)) for row in split_rows(builder(chunk))]


def plan_chunks(plan: StreamPlan) -> list[dict[str, np.ndarray]]:
    """The plan rows of rank 0 grouped as ``map_batches`` hands them to the builder."""
    rows = plan.rows(0)
    chunks = []
    for start in range(0, len(rows), MAP_BATCHES_SIZE):
        part = rows[start : start + MAP_BATCHES_SIZE]
        example_ids = np.empty(len(part), dtype=object)
        example_ids[:] = [r["example_ids"] for r in part]
        chunks.append(
            {
                "epoch": np.array([r["epoch"] for r in part]),
                "step": np.array([r["step"] for r in part]),
                "example_ids": example_ids,
            }
        )
    return chunks


def split_rows(output: dict[str, Any]) -> list[Batch]:
    """One dict per micro-batch from a builder output (what ``iter_batches(batch_size=1)`` yields, unbatched)."""
    keys = ("input_ids", "labels", "attention_mask", "weights")
    return [{k: output[k][i] for k in keys} for i in range(len(output["input_ids"]))]


def clone(model: torch.nn.Module) -> torch.nn.Module:
    """An independent copy with the same initial weights."""
    return copy.deepcopy(model)


def parameter_count(model: torch.nn.Module) -> int:
    """Unique parameters (the tied embedding / LM head counted once)."""
    return sum(p.numel() for p in model.parameters())
