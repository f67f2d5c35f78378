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
from pathlib import Path

import pytest

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Integration tests first, unit tests after (each group in file order): the two test
    processes start on the long tests and the short ones fill in at the end, instead of one
    process finishing a long test alone while the other sits idle."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)
