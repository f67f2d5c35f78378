"""Figures 1-3: the platform's training step against a bare PyTorch loop, MFU, objective cost.

The *platform step* is ``platform/worker.py``'s loop body, unchanged: numpy micro-batch ->
``torch.tensor`` per field, ``model_inputs``, ``objective.loss``, ``Engine.step``
(``build_optimizer``'s fused AdamW with ``parameter_groups``, ``lr_schedule``, ``clip_grad_norm_``),
the loss and token accumulators. ``Engine`` is constructed directly, as ``build_engine``
does for DDP with one worker (``ray.train.torch.prepare_model`` does not wrap a model when
the world size is 1), so no Ray is involved. The *bare step* is the least a PyTorch user
would write: pre-built tensors, a fused ``torch.optim.AdamW``, plain shifted cross-entropy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmarks.common import (
    LARGE_MODEL,
    Batch,
    Figure,
    Settings,
    Workbench,
    clone,
    median,
    parameter_count,
)
from objectives.base import IGNORE, Objective
from platform.engine import Engine, build_optimizer, lr_schedule, train_step
from platform.spec import ExperimentSpec

WARMUP_STEPS = 3


def platform_engine(model: torch.nn.Module, spec: ExperimentSpec, total_steps: int) -> Engine:
    """``build_engine``'s DDP branch for one worker, without ``prepare_model`` (no Ray Train)."""
    train = spec.train
    optimizer = build_optimizer(model, train)
    scheduler = lr_schedule(optimizer, total_steps, train.warmup_ratio)
    return Engine(model, model, optimizer, scheduler, train.grad_clip)


def platform_steps(engine: Engine, objective: Objective, batches: list[Batch]) -> int:
    """The loop body of ``platform/worker.py`` over ``batches``; returns the real tokens seen."""
    device = next(engine.module.parameters()).device
    epoch_loss = torch.zeros((), device=device)
    tokens_seen = torch.zeros((), dtype=torch.long, device=device)
    engine.model.train()
    for batch in batches:
        tensors = {
            k: torch.tensor(batch[k], device=device) for k in ("input_ids", "labels", "attention_mask", "weights")
        }
        epoch_loss += train_step(engine, objective, tensors)
        tokens_seen += tensors["attention_mask"].sum()  # a tensor, as in the worker: no host sync per step
    return int(tokens_seen)


@dataclass
class BareLoop:
    """A plain PyTorch loop over pre-built tensors: the throughput baseline."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    tensors: list[dict[str, torch.Tensor]]

    @classmethod
    def create(cls, model: torch.nn.Module, spec: ExperimentSpec, batches: list[Batch]) -> BareLoop:
        train = spec.train
        # The same optimizer as the platform's (fused AdamW), without the parameter groups.
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=train.lr, betas=tuple(train.betas), weight_decay=train.weight_decay, fused=True
        )
        tensors = [{k: torch.from_numpy(b[k]) for k in ("input_ids", "labels", "attention_mask")} for b in batches]
        return cls(model, optimizer, tensors)

    def run(self, count: int | None = None) -> int:
        self.model.train()
        tokens = 0
        for batch in self.tensors[:count]:
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss = F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE
            )
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            tokens += int(batch["attention_mask"].sum())
        return tokens


@dataclass
class PlatformLoop:
    """The platform step bound to a model, an engine and pre-built numpy micro-batches."""

    engine: Engine
    objective: Objective
    batches: list[Batch]

    @classmethod
    def create(
        cls, model: torch.nn.Module, spec: ExperimentSpec, objective: Objective, batches: list[Batch]
    ) -> PlatformLoop:
        return cls(platform_engine(model, spec, total_steps=10**6), objective, batches)

    def run(self, count: int | None = None) -> int:
        return platform_steps(self.engine, self.objective, self.batches[:count])


def _steps(loop: BareLoop | PlatformLoop) -> int:
    return len(loop.tensors if isinstance(loop, BareLoop) else loop.batches)


def compare(
    loops: dict[str, BareLoop | PlatformLoop], reps: int, count: int | None = None, chunk: int = 3
) -> dict[str, dict[str, float]]:
    """Per-step timings of several loops over the same batches, robust to a shared machine.

    After a warm-up, every repetition walks the batches in chunks of ``chunk`` steps (one
    epoch of the plan) and runs each loop on the chunk in turn (order rotated), so all loops
    see the same load at nearly the same moment. Returns per loop the median seconds per
    step and tokens/s over all chunks, and ``vs_first``: the median over chunks of the paired
    ratio of the first loop's time to this loop's (a throughput ratio; 1.0 for the first).
    """
    for loop in loops.values():
        loop.run(WARMUP_STEPS)
    names = list(loops)
    total = min(_steps(loop) for loop in loops.values()) if count is None else count
    seconds: dict[str, list[float]] = {name: [] for name in loops}
    rates: dict[str, list[float]] = {name: [] for name in loops}
    paired: dict[str, list[float]] = {name: [] for name in loops}
    turn = 0
    for _ in range(reps):
        for lo in range(0, total, chunk):
            hi = min(lo + chunk, total)
            elapsed: dict[str, float] = {}
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                elapsed[name], tokens = _time_chunk(loops[name], lo, hi)
                seconds[name].append(elapsed[name] / (hi - lo))
                rates[name].append(tokens / elapsed[name])
            for name in names:
                paired[name].append(elapsed[names[0]] / elapsed[name])
            turn += 1
    return {
        name: {"step_s": median(seconds[name]), "tokens_per_s": median(rates[name]), "vs_first": median(paired[name])}
        for name in loops
    }


def _time_chunk(loop: BareLoop | PlatformLoop, lo: int, hi: int) -> tuple[float, int]:
    """Seconds and real tokens of steps ``lo:hi`` of the loop's batches."""
    if isinstance(loop, BareLoop):
        part = BareLoop(loop.model, loop.optimizer, loop.tensors[lo:hi])
    else:
        part = PlatformLoop(loop.engine, loop.objective, loop.batches[lo:hi])
    start = time.perf_counter()
    tokens = part.run()
    return time.perf_counter() - start, tokens


def flops_per_step(model: torch.nn.Module, batches: list[Batch]) -> float:
    """Mean training FLOPs of one step: 6 N T + 12 n_layer d L T over the padded tokens T = B L.

    N counts every parameter once (the tied embedding is also the LM head, whose matmul is real
    compute; the lookup is not); the second term is attention scores and values (QK^T and AV,
    forward 4 n_layer d L per token, x3 for backward), computed in full by SDPA even under the
    causal mask.
    """
    config = model.config
    n = parameter_count(model)
    total = 0.0
    for b in batches:
        rows, length = b["input_ids"].shape
        tokens = rows * length
        total += 6 * n * tokens + 12 * config.num_hidden_layers * config.hidden_size * length * tokens
    return total / len(batches)


def matmul_peak(threads: int, reps: int) -> tuple[float, dict[int, float]]:
    """The machine's fp32 matmul FLOP/s with ``threads`` threads: best of n=1024 and n=2048."""
    torch.set_num_threads(threads)
    results = {}
    for n in (1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.matmul(a, b)  # warm-up
        times = []
        for _ in range(max(3, reps)):
            start = time.perf_counter()
            torch.matmul(a, b)
            times.append(time.perf_counter() - start)
        results[n] = 2 * n**3 / median(times)
    return max(results.values()), results


def run(bench: Workbench, settings: Settings) -> tuple[list[Figure], dict[str, float]]:
    """Figures 1, 2 and 3; also returns the platform step times per objective (for figure 4)."""
    spec = bench.spec
    ar, masked_ar, diffusion = (bench.objective(n) for n in ("ar", "masked_ar", "masked_diffusion"))
    batches = {o.name: bench.batches(o, settings.epochs) for o in (ar, masked_ar, diffusion)}
    base = bench.model()
    figures: list[Figure] = []

    # -- figure 1: platform step vs bare loop, same init, same batches (ar) -----------------
    loops = {
        "bare": BareLoop.create(clone(base), spec, batches["ar"]),
        "platform": PlatformLoop.create(clone(base), spec, ar, batches["ar"]),
    }
    tiny = compare(loops, settings.reps)
    ratio = tiny["platform"]["tokens_per_s"] / tiny["bare"]["tokens_per_s"]
    steps = len(batches["ar"])
    figures.append(
        Figure(
            "1",
            "training throughput, platform step (ar, tiny default)",
            tiny["platform"]["tokens_per_s"],
            "tokens/s",
            "bare PyTorch loop",
            tiny["bare"]["tokens_per_s"],
            "tokens/s",
            ratio,
            ">= 0.95x",
            ratio >= 0.95,
            f"{parameter_count(base) / 1e6:.2f}M params, batch {spec.train.batch_size}, {steps} steps x "
            f"{settings.reps} reps in 3-step chunks; "
            f"median step {tiny['platform']['step_s'] * 1e3:.1f} ms vs {tiny['bare']['step_s'] * 1e3:.1f} ms; "
            f"median of the per-chunk paired throughput ratios: {1 / tiny['platform']['vs_first']:.3f}",
        )
    )

    # -- figure 2: model FLOPs utilisation, tiny default and ~10x larger ----------------------
    peak, per_size = matmul_peak(settings.threads, settings.reps)
    peak_note = ", ".join(f"n={n}: {v / 1e9:.1f} GFLOP/s" for n, v in per_size.items())
    large = bench.model(LARGE_MODEL)
    large_loop = {"platform": PlatformLoop.create(large, spec, ar, batches["ar"])}
    large_result = compare(large_loop, max(2, settings.reps // 2), count=settings.large_steps)
    for label, model, result, count in (
        ("tiny default", base, tiny["platform"], None),
        (
            f"hidden {LARGE_MODEL.hidden_size}, {LARGE_MODEL.num_layers} layers",
            large,
            large_result["platform"],
            settings.large_steps,
        ),
    ):
        achieved = flops_per_step(model, batches["ar"][:count]) / result["step_s"]
        figures.append(
            Figure(
                "2",
                f"model FLOPs utilisation, platform step ({label}, {parameter_count(model) / 1e6:.1f}M params)",
                achieved / 1e9,
                "GFLOP/s",
                f"fp32 matmul peak ({settings.threads} thread(s))",
                peak / 1e9,
                "GFLOP/s",
                achieved / peak,
                notes=peak_note,
            )
        )
    del large, large_loop

    # -- figure 3: masked objectives' step time vs ar, same documents -------------------------
    bidirectional = clone(base)
    from platform.models import set_bidirectional

    set_bidirectional(bidirectional)
    objectives = {"ar": ar, "masked_ar": masked_ar, "masked_diffusion": diffusion}
    loops3 = {
        name: PlatformLoop.create(
            bidirectional if name == "masked_diffusion" else clone(base), spec, obj, batches[name]
        )
        for name, obj in objectives.items()
    }
    per_objective = compare(loops3, settings.reps)  # "ar" first: vs_first = ar time / this time
    ar_step = per_objective["ar"]["step_s"]
    lengths = {name: sum(b["input_ids"].shape[1] for b in batches[name]) / len(batches[name]) for name in objectives}
    for name, target in (("masked_ar", 2.2), ("masked_diffusion", None)):
        ratio = per_objective[name]["step_s"] / ar_step
        figures.append(
            Figure(
                "3",
                f"step time {name} / ar",
                per_objective[name]["step_s"] * 1e3,
                "ms/step",
                "ar step",
                ar_step * 1e3,
                "ms/step",
                ratio,
                f"<= {target}x" if target else "",
                (ratio <= target) if target else None,
                f"mean padded length {lengths[name]:.1f} vs {lengths['ar']:.1f} tokens (batch "
                f"{spec.train.batch_size}); median of the per-chunk "
                f"paired step-time ratios: {1 / per_objective[name]['vs_first']:.3f}",
            )
        )
    # The 2.2x target assumes the masked copy doubles the sequence; docs/method.md's prompt and
    # response texts make it ~3x the tokens, so the cost per token is the fair comparison.
    per_token = {name: per_objective[name]["step_s"] / (lengths[name] * spec.train.batch_size) for name in objectives}
    ratio = per_token["masked_ar"] / per_token["ar"]
    figures.append(
        Figure(
            "3",
            "time per token masked_ar / ar (the 2.2x target restated per token)",
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
    return figures, {name: r["step_s"] for name, r in per_objective.items()}
