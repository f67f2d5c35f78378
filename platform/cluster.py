"""The Ray cluster a sweep runs on: a local one it starts, or an existing one it joins.

Why a module of its own: how the local cluster is started (which addresses and ports it
listens on, whether it asks for a token, that it ends with the driver) is a security and
robustness decision, made in one place; the sweep only asks for "the cluster".
"""

from __future__ import annotations

import json
import os
from typing import Any

from platform import REPO_ROOT

RUNTIME_EXCLUDES = [".venv/", ".git/", "results/", "reports/", "mlflow.db", "mlruns/", "*.pyc", "__pycache__/", ".cache/"]


def runtime_env() -> dict[str, Any] | None:
    """Ship the checkout to every Ray worker unless the job already did (``--working-dir``)."""
    job = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}") or "{}")
    if (job.get("runtime_env") or {}).get("working_dir"):
        return None
    return {"working_dir": REPO_ROOT, "excludes": RUNTIME_EXCLUDES, "env_vars": {"TOKENIZERS_PARALLELISM": "false"}}


def init_ray(address: str | None) -> None:
    """Join ``address`` (or ``RAY_ADDRESS``), else start a local cluster; once per process."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    # Tune saves its experiment state (which trials ended) every few seconds by default; a
    # driver killed in between reruns finished trials on resume. Save at most once a second.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    kwargs: dict[str, Any] = {"runtime_env": runtime_env(), "logging_level": "WARNING", "log_to_driver": False}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        kwargs["address"] = address
    else:
        kwargs["include_dashboard"] = False
    ray.init(**kwargs)
