"""Readable names for trials: what the results table, the console and MLflow call a trial.

Why its own module: the table and the console (presentation) and the trial (training) all
name trials the same way, and presentation must not import the trial's Ray and torch stack.
"""

from __future__ import annotations

from typing import Any


def trial_name(overrides: dict[str, Any]) -> str:
    """Readable run name: objective first, then the varied values (``masked_ar lr=3.2e-04 seed=0``)."""
    parts = [str(overrides["objective.name"])] if "objective.name" in overrides else []
    # the last part of each key names it, unless another key ends the same way
    tails = [key.rsplit(".", 1)[-1] for key in overrides]
    for key, value in sorted(overrides.items()):
        if key == "objective.name":
            continue
        shown = (
            (f"{value:.2e}" if value and abs(value) < 1e-2 else f"{value:g}")
            if isinstance(value, float)
            else str(value)
        )
        tail = key.rsplit(".", 1)[-1]
        parts.append(f"{tail if tails.count(tail) == 1 else key}={shown}")
    return " ".join(parts) or "trial"
