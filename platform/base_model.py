"""Where the embedded base model is cached, under which key, and its build on a miss.

The stage itself (what the base model reads and how it trains) is ``platform.base_training``;
it is imported only to build one, so a sweep whose base models are cached finds them without
torch (its driver never imports it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from platform.cache import build_once
from platform.data.sources import build_world
from platform.data.worlds import vocabulary_texts
from platform.paths import cache_dir
from platform.spec import ExperimentSpec

if TYPE_CHECKING:
    from objectives.base import BaseStage

FORMAT_VERSION = 3
"""Bump when the base stage's recipe changes, so stale caches are not reused."""


def base_key(spec: ExperimentSpec, stage: BaseStage) -> str:
    """A hash of everything that determines the base model: recipe, vocabulary, and the base
    stage's texts themselves (so worlds that share a base stage share the model).

    ``spec`` is the spec of the trials that fine-tune from the stage: its ``data`` names the
    world whose known part the stage reads (``platform.plan.base_stages``)."""
    world = build_world(spec.data)
    known = world.base_corpus(spec.model.base_pretrain.paraphrases)
    texts = (
        [d.text for d in known.documents]
        + [f"{p.question}\t{p.answer}" for p in known.train_problems]
        + [f"{q.question}\t{q.answer}" for q in world.base_qa()]
    )
    payload = {
        "version": FORMAT_VERSION,
        "family": stage.name,
        "tiny": spec.model.tiny.model_dump(),
        "pretrain": _recipe_fields(spec, stage),
        "objectives": [objective.name for objective in stage.formats],
        "vocabulary": _digest(vocabulary_texts()),
        "texts": _digest(texts),
    }
    return _digest([json.dumps(payload, sort_keys=True)])[:16]


def _recipe_fields(spec: ExperimentSpec, stage: BaseStage) -> dict:
    """The base-stage settings that shape this stage's model (not the other stages')."""
    cfg = spec.model.base_pretrain
    epochs, lr = cfg.recipe(stage.bidirectional)
    shared = cfg.model_dump(exclude={"epochs", "lr", "bidirectional_epochs", "bidirectional_lr"})
    return {**shared, "epochs": epochs, "lr": lr}


def _digest(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()


def base_model_path(spec: ExperimentSpec, stage: BaseStage) -> Path:
    """Where the base model of this spec and stage is (or will be) cached."""
    return cache_dir() / "base" / f"{stage.name}-{base_key(spec, stage)}"


def ensure_base_model(spec: ExperimentSpec, stage: BaseStage, log=print) -> Path:
    """The cached base model's directory, building it first if needed (once, under a lock)."""
    target = base_model_path(spec, stage)

    def build(staging: Path) -> dict:
        from platform.base_training import build_base_model

        return build_base_model(spec, stage, staging, log)

    return build_once(
        target, "base_report.json", build, lambda: log(f"[base] building the embedded base model (cached at {target})")
    )
