"""Where the platform keeps state: the MLflow store, Tune results, the base-model cache.

Why not always the checkout: under ``ray job submit --working-dir .`` the code runs from a
temporary copy that Ray deletes with the session, and results written there would be lost.
So state goes to ``$KIP_HOME`` if set, else ``~/knowledge-injection-platform`` for a submitted
job (from Ray's copy or not), else the checkout. Every path is absolute:
Tune trials and Train workers change directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from platform import REPO_ROOT

_RAY_PACKAGE_MARKER = f"{os.sep}runtime_resources{os.sep}"


def running_from_ray_package() -> bool:
    return _RAY_PACKAGE_MARKER in REPO_ROOT


def running_as_ray_job() -> bool:
    """Whether this driver is a ``ray job submit`` entrypoint (with or without ``--working-dir``):
    Ray's job supervisor hands every entrypoint its job config in this variable."""
    return "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ


def state_dir() -> Path:
    """Where results and the MLflow store go. Every submitted job uses the same place, so a
    sweep submitted with ``--working-dir .`` and one submitted bare from the checkout share one
    store and resume each other; a command run from the checkout keeps them in the checkout."""
    configured = os.environ.get("KIP_HOME")
    if configured:
        return Path(configured).expanduser().resolve()
    if running_from_ray_package() or running_as_ray_job():
        return Path.home() / "knowledge-injection-platform"
    return Path(REPO_ROOT)


def cache_dir() -> Path:
    """Base models built from config, shared by every sweep (``$KIP_CACHE_DIR`` overrides)."""
    configured = os.environ.get("KIP_CACHE_DIR")
    return (
        Path(configured).expanduser().resolve()
        if configured
        else Path.home() / ".cache" / "knowledge-injection-platform"
    )
