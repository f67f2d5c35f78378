"""Trial checkpoints: model, optimizer, scheduler, RNG and loop state, per evaluated epoch.

Why Ray Train checkpoints: they are what ``FailureConfig`` restarts a failed worker group
from, and what the trial keeps (the best by selection accuracy, plus the latest). The model
is saved with ``save_pretrained`` (a best checkpoint is a loadable Hugging Face model);
under DeepSpeed every rank writes its ZeRO shards with ``save_checkpoint`` instead (ZeRO-3
consolidates 16-bit weights on save, see ``strategy.deepspeed_config``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from platform.engine import Engine

STATE_FILE = "loop_state.json"
DEEPSPEED_TAG = "zero"


@dataclass
class LoopState:
    """What the loop needs to continue exactly where it stopped (data position included)."""

    completed_epochs: int = 0
    best_selection: float = float("-inf")
    best_metrics: dict[str, float] = field(default_factory=dict)
    """The best epoch's ``best_*`` metrics (and ``epoch``): logged again to a resumed trial's new run."""
    evaluations_since_best: int = 0
    tokens_seen: int = 0


def save(engine: Engine, directory: Path, state: LoopState, rank: int) -> bool:
    """Write this rank's part of the checkpoint; returns whether this rank reports a directory."""
    directory.mkdir(parents=True, exist_ok=True)
    if engine.deepspeed:
        engine.model.save_checkpoint(str(directory), tag=DEEPSPEED_TAG, client_state={"loop": asdict(state)})
        if rank == 0:
            (directory / STATE_FILE).write_text(json.dumps(asdict(state)))
        return True
    if rank != 0:
        return False  # DDP replicas are identical: rank 0's copy is the checkpoint
    save_unwrapped(engine.module, directory)
    torch.save(
        {
            "optimizer": engine.optimizer.state_dict(),
            "scheduler": engine.scheduler.state_dict(),
            "rng": torch.get_rng_state(),
        },
        directory / "training_state.pt",
    )
    (directory / STATE_FILE).write_text(json.dumps(asdict(state)))
    return True


def save_unwrapped(module: torch.nn.Module, directory: Path) -> None:
    """``module.save_pretrained(directory)`` for a model that is no wrapper (``Engine.module``:
    DDP's wrapper is already removed), without transformers' unwrapping step. That step asks
    accelerate, whose check imports DeepSpeed when it is installed: 1 s of CPU at the first
    checkpoint of every trial process, on the path to its first reported epoch, in trials that
    never use DeepSpeed (benchmarks/FINDINGS.md, section 11). The files are the same."""
    import transformers.modeling_utils as modeling_utils

    unwrap = modeling_utils.unwrap_model
    modeling_utils.unwrap_model = lambda model, recursive=False: model
    try:
        module.save_pretrained(directory)
    finally:
        modeling_utils.unwrap_model = unwrap


def completed_epochs(checkpoint) -> int:
    """The epochs a Tune or Train checkpoint holds, from its loop state alone (the weights stay
    where they are, on whatever storage the checkpoint lives)."""
    with checkpoint.filesystem.open_input_stream(f"{checkpoint.path}/{STATE_FILE}") as stream:
        return int(json.loads(stream.read())["completed_epochs"])


def load(engine: Engine, directory: Path) -> LoopState:
    """Restore the engine in place from ``directory``; returns the loop state to resume."""
    if engine.deepspeed:
        engine.model.load_checkpoint(str(directory), tag=DEEPSPEED_TAG)
    else:
        from safetensors.torch import load_file

        weights = load_file(os.path.join(directory, "model.safetensors"))
        engine.module.load_state_dict(weights, strict=False)  # tied embeddings are stored once
        training = torch.load(directory / "training_state.pt", weights_only=False)
        engine.optimizer.load_state_dict(training["optimizer"])
        engine.scheduler.load_state_dict(training["scheduler"])
        torch.set_rng_state(training["rng"])
    return LoopState(**json.loads((directory / STATE_FILE).read_text()))
