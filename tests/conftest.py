"""Shared test setup: real components, isolated state.

Every test session gets its own base-model cache and MLflow store under a temporary
directory. Ray's token authentication is off for the tests' own clusters (set explicitly, so
a token file left in ``~/.ray`` cannot switch `ray start` to token mode under a test); the
tests about it (`test_local_cluster.py`, `test_job_submit.py`) turn it on in their own
environment, as users run. The clusters are single-machine (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``):
a head started with it and a driver joining it must agree, as ``clusters/README.md`` says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform.cluster import one_machine_settings
from tests.ray_head import ray_head

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
# Every Ray cluster of the tests is single-machine: its servers on 127.0.0.1 only, and every
# client (a driver given --address, `ray job submit`) agrees, so no test traffic leaves loopback
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kip-cache")
    os.environ["KIP_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def shared_cluster(cache_dir) -> Iterator[dict[str, str]]:
    """One Ray cluster for this test process's sweeps whose subject is not the cluster: the
    environment that makes a sweep join it (``RAY_ADDRESS``), as a sweep joins a user's cluster.

    Why: a sweep's own local cluster costs seconds of start and stop (GCS, raylet, agents,
    the checkout unpacked again) in every command; joined, it costs a connection. Tests about
    start-up, a signal or a kill of the driver, or concurrency start their own; faults of a
    trial, its storage or its MLflow store happen on this one. A test whose trials must see an
    environment variable of its own starts its own too: trials get the head's environment
    (this process's, with ``KIP_CACHE_DIR``), as they get a cluster's and not the submitting
    shell's.
    """
    with ray_head({**os.environ, **one_machine_settings()}, cpus=os.cpu_count() or 2) as head:
        yield {"RAY_ADDRESS": head.gcs_address}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m <args>`` from the repository root, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def trial_runs(home: Path, experiment: str):
    """The MLflow client of the sqlite store under ``home`` and the trial runs of ``experiment``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    found = client.get_experiment_by_name(experiment)
    return client, client.search_runs([found.experiment_id], filter_string="tags.kind = 'trial'")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Integration tests first, unit tests after (each group in file order): the two test
    processes start on the long tests and the short ones fill in at the end, instead of one
    process finishing a long test alone while the other sits idle."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)
