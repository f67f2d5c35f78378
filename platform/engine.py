"""Distribution strategy from the spec: plain DDP through Ray Train, or DeepSpeed ZeRO.

Why a tiny interface (``step(loss)``, ``module``, ``lr``): the worker loop reads the same for
both strategies; everything strategy-specific (wrapping, optimizer ownership, clipping,
bf16) lives here. The optimizer is METHOD.md's: AdamW, betas from the spec, weight decay on
weights but not on biases and norms, linear warm-up then a constant learning rate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch

from platform.spec import ExperimentSpec


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices only: biases and norm weights (1-D tensors) get no weight decay."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_then_constant(total_steps: int, warmup_ratio: float):
    warmup = max(1, round(total_steps * warmup_ratio)) if warmup_ratio > 0 else 0

    def factor(step: int) -> float:
        return min(1.0, (step + 1) / warmup) if warmup else 1.0

    return factor


def deepspeed_config(spec: ExperimentSpec, micro_batch: int, total_steps: int) -> dict[str, Any]:
    """The DeepSpeed JSON generated from the spec (logged with the run)."""
    train = spec.train
    warmup = round(total_steps * train.warmup_ratio)
    return {
        "train_batch_size": train.batch_size,
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": train.grad_clip or 0.0,
        "bf16": {"enabled": spec.model.dtype == "bfloat16"},
        "zero_optimization": {"stage": 2},
        "optimizer": {
            "type": "AdamW",
            "params": {"lr": train.lr, "betas": list(train.betas), "weight_decay": train.weight_decay, "torch_adam": True},
        },
        "scheduler": {
            "type": "WarmupLR",
            "params": {"warmup_min_lr": 0.0, "warmup_max_lr": train.lr, "warmup_num_steps": max(warmup, 1), "warmup_type": "linear"},
        },
        "steps_per_print": 10**9,
    }


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


def build_engine(spec: ExperimentSpec, model: torch.nn.Module, total_steps: int, micro_batch: int) -> Engine:
    """Wrap the model for the spec's strategy (call inside a Ray Train worker)."""
    if spec.resources.strategy == "deepspeed":
        import deepspeed  # imported here: only the workers that use it pay for it

        config = deepspeed_config(spec, micro_batch, total_steps)
        engine, optimizer, _, scheduler = deepspeed.initialize(
            model=model, model_parameters=parameter_groups(model, spec.train.weight_decay), config=config
        )
        return Engine(engine, engine.module, optimizer, scheduler, spec.train.grad_clip, deepspeed=True)

    import ray.train.torch

    wrapped = ray.train.torch.prepare_model(model)
    optimizer = torch.optim.AdamW(
        parameter_groups(model, spec.train.weight_decay), lr=spec.train.lr, betas=tuple(spec.train.betas)
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_constant(total_steps, spec.train.warmup_ratio))
    return Engine(wrapped, getattr(wrapped, "module", wrapped), optimizer, scheduler, spec.train.grad_clip)


def describe(spec: ExperimentSpec, micro_batch: int, total_steps: int) -> str:
    """The strategy as logged: the DeepSpeed JSON, or a line for DDP."""
    if spec.resources.strategy == "deepspeed":
        return json.dumps(deepspeed_config(spec, micro_batch, total_steps), indent=2)
    return f"ddp: {spec.resources.num_workers} worker(s), micro-batch {micro_batch}"
