"""The distribution strategy as configuration: DeepSpeed's JSON, the weights' dtype, the line
logged for DDP.

Why apart from ``platform.engine``: these are plain data read from the spec, and the sweep's
dry run shows them, in a driver that never imports torch (``platform.engine`` builds the
optimizer and wraps the model).
"""

from __future__ import annotations

import json
from typing import Any

from platform.spec import ExperimentSpec


def deepspeed_config(spec: ExperimentSpec, micro_batch: int, total_steps: int) -> dict[str, Any]:
    """The DeepSpeed JSON generated from the spec (logged with the run), merged with the user's file.

    The global batch is ``train.batch_size``; each worker takes one micro-batch of
    ``batch_size / num_workers`` per optimizer step (no gradient accumulation). No scheduler:
    the engine hands DeepSpeed the platform's own (``lr_schedule``), so a trial's rate at every
    step is the same under DeepSpeed as under DDP (DeepSpeed's ``WarmupLR`` starts at 0 and lags
    by two steps); a ``scheduler`` in the user's file replaces it.
    """
    train, ds = spec.train, spec.resources.deepspeed
    zero: dict[str, Any] = {"stage": ds.zero_stage}
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": spec.resources.gpus_per_worker > 0}
    if ds.offload_params:
        zero["offload_param"] = {"device": "cpu", "pin_memory": spec.resources.gpus_per_worker > 0}
    if ds.zero_stage == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    config = {
        "train_batch_size": train.batch_size,
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": train.grad_clip or 0.0,
        "bf16": {"enabled": spec.model.dtype == "bfloat16"},
        "zero_optimization": zero,
        "optimizer": {
            "type": "AdamW",
            "params": {
                "lr": train.lr,
                "betas": list(train.betas),
                "weight_decay": train.weight_decay,
                "torch_adam": True,
            },
        },
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if ds.config:
        from platform.spec import deep_merge

        with open(ds.config, encoding="utf-8") as file:
            config = deep_merge(config, json.load(file))
    return config


def weights_dtype(spec: ExperimentSpec) -> str:
    """The dtype to load weights in: bf16 only where DeepSpeed keeps fp32 master weights itself;
    without DeepSpeed, bf16 means fp32 weights under autocast (``Engine.precision``)."""
    return "bfloat16" if spec.model.dtype == "bfloat16" and spec.resources.strategy == "deepspeed" else "float32"


def describe(spec: ExperimentSpec, micro_batch: int, total_steps: int) -> str:
    """The strategy as logged: the DeepSpeed JSON, or a line for DDP."""
    if spec.resources.strategy == "deepspeed":
        return json.dumps(deepspeed_config(spec, micro_batch, total_steps), indent=2)
    return f"ddp: {spec.resources.num_workers} worker(s), micro-batch {micro_batch}"
