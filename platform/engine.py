"""Distribution strategy from the spec: plain DDP through Ray Train, or DeepSpeed ZeRO.

Why a tiny interface (``step(loss)``, ``module``, ``lr``): the worker loop reads the same for
both strategies; everything strategy-specific (wrapping, optimizer ownership, clipping,
bf16) lives here. The optimizer is docs/method.md's: AdamW, betas from the spec, weight decay on
weights but not on biases and norms, linear warm-up then a constant learning rate.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from platform.models import model_inputs
from platform.spec import ExperimentSpec, TrainSpec
from platform.strategy import deepspeed_config


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices only: biases and norm weights (1-D tensors) get no weight decay."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """The platform's learning-rate schedule on ``optimizer``, stepped after every optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_constant(total_steps, warmup_ratio))


def warmup_then_constant(total_steps: int, warmup_ratio: float):
    warmup = max(1, round(total_steps * warmup_ratio)) if warmup_ratio > 0 else 0

    def factor(step: int) -> float:
        return min(1.0, (step + 1) / warmup) if warmup else 1.0

    return factor


@dataclass
class Engine:
    """The wrapped model and how to take one optimizer step with it."""

    model: torch.nn.Module
    module: torch.nn.Module
    """The unwrapped model (for generation and saving)."""
    optimizer: Any
    scheduler: Any
    grad_clip: float | None
    deepspeed: bool = False
    autocast_dtype: torch.dtype | None = None
    """bf16 mixed precision without DeepSpeed: fp32 weights and optimizer (the paper's fp32
    master weights), forward passes under autocast. DeepSpeed's bf16 mode does this itself."""

    def step(self, loss: torch.Tensor) -> None:
        if self.deepspeed:
            self.model.backward(loss)
            self.model.step()
            return
        loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def precision(self):
        """A context for forward passes (training and generation): bf16 autocast if configured."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(next(self.module.parameters()).device.type, dtype=self.autocast_dtype)

    def full_parameters(self):
        """A context in which ``module`` holds whole parameters on every rank (for generation).

        Under ZeRO-3 each rank holds a shard; generation runs a different number of forward
        passes per rank, so the parameters are gathered for the duration instead.
        """
        if self.deepspeed and self.model.zero_optimization_stage() == 3:
            import deepspeed

            return deepspeed.zero.GatheredParameters(list(self.module.parameters()), modifier_rank=None)
        return contextlib.nullcontext()


def train_step(engine: Engine, objective, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """One optimizer step on one collated micro-batch (``platform.data.stream.collate``): the
    forward pass under the engine's precision, the objective's loss, backward, clip, step.

    The one training step of the platform: trials (``platform/worker.py``), the base stage and
    the benchmarks all take it. Returns the loss, detached (no host sync).
    """
    with engine.precision():
        logits = engine.model(**model_inputs(engine.module, batch["input_ids"], batch["attention_mask"])).logits
    loss = objective.loss(logits, batch["labels"], batch["weights"])
    engine.step(loss)
    return loss.detach()


def build_optimizer(model: torch.nn.Module, train: TrainSpec) -> torch.optim.AdamW:
    """docs/method.md's AdamW over ``parameter_groups``, fused where torch has the kernel.

    The fused kernel (CPU and CUDA since torch 2.4) is 3-4x faster than the default per-tensor
    loop on CPU (benchmarks/FINDINGS.md). It reorders float operations, so losses match the
    unfused optimizer to rounding, not bit for bit; runs stay reproducible run to run.
    """
    fused = next(model.parameters()).device.type in ("cpu", "cuda")
    return torch.optim.AdamW(
        parameter_groups(model, train.weight_decay), lr=train.lr, betas=tuple(train.betas), fused=fused
    )


def skip_inference_shm_op() -> None:
    """Keep DeepSpeed from JIT-compiling its CPU shared-memory all-reduce when it sets up
    ``deepspeed.comm``.

    Why: on the CPU accelerator DeepSpeed compiles that C++ op (``deepspeed_shm_comm``) the first
    time a venv initialises it: 44 s on 2 cores, rebuilt for every venv path, since torch caches
    JIT builds by source path. Only ``inference_all_reduce`` (DeepSpeed inference) calls the op.
    ZeRO training reduces through ``torch.distributed`` (gloo on CPU), so training never runs it.
    DeepSpeed's ``ops.__compatible_ops__`` is one dict that DeepSpeed caches and keeps edits to.
    Marking the op incompatible there makes DeepSpeed skip it, the same as on a machine where it
    cannot build. Other accelerators have no such op, so the entry changes nothing for them.
    """
    import deepspeed.ops

    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


def build_engine(
    spec: ExperimentSpec, model: torch.nn.Module, total_steps: int, micro_batch: int, prepare_model
) -> Engine:
    """Wrap the model for the spec's strategy; ``prepare_model`` places it (Ray Train's
    ``prepare_model`` on a worker: device and DDP; ``.to(device)`` in a trial's own process)."""
    if spec.resources.strategy == "deepspeed":
        import deepspeed  # imported here: only the workers that use it pay for it

        skip_inference_shm_op()
        config = deepspeed_config(spec, micro_batch, total_steps)
        engine, optimizer, _, scheduler = deepspeed.initialize(
            model=model,
            model_parameters=parameter_groups(model, spec.train.weight_decay),
            config=config,
            lr_scheduler=lambda optimizer: lr_schedule(optimizer, total_steps, spec.train.warmup_ratio),
        )
        return Engine(engine, engine.module, optimizer, scheduler, spec.train.grad_clip, deepspeed=True)

    wrapped = prepare_model(model)
    optimizer = build_optimizer(model, spec.train)
    scheduler = lr_schedule(optimizer, total_steps, spec.train.warmup_ratio)
    autocast = torch.bfloat16 if spec.model.dtype == "bfloat16" else None
    return Engine(
        wrapped,
        getattr(wrapped, "module", wrapped),
        optimizer,
        scheduler,
        spec.train.grad_clip,
        autocast_dtype=autocast,
    )
