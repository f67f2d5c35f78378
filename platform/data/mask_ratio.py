"""The mask-ratio distribution, the one place that draws t (docs/method.md).

Why seeded from (seed, epoch, step): t is drawn once per global batch by default, and
per-sample draws come from the sample's own generator, so the same spec and seed give the
same ratios whatever the number of workers or Ray Data blocks.
"""

from __future__ import annotations

import numpy as np

from platform.spec import MaskRatioSpec

_BATCH_STREAM = 0x7A11


def batch_generator(seed: int, epoch: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, step, _BATCH_STREAM])


def sample_generator(seed: int, epoch: int, example_id: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, example_id])


def draw(spec: MaskRatioSpec, rng: np.random.Generator, epoch: int, epochs: int) -> float:
    """One mask ratio t in [0, 1] for the given epoch (0-based) of ``epochs``."""
    if spec.kind == "fixed":
        return spec.value
    if spec.kind == "linear":
        progress = epoch / max(epochs - 1, 1)
        return spec.start + (spec.end - spec.start) * progress
    return float(rng.uniform(spec.low, spec.high))
