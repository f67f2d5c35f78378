"""The users' cluster path: `ray start --head` on 127.0.0.1, then `ray job submit`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ray_job_submit_runs_a_sweep(tmp_path, cache_dir):
    home = tmp_path / "home"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "KIP_HOME": str(home), "KIP_CACHE_DIR": str(cache_dir)}
    port, dashboard = free_port(), free_port()
    start = subprocess.run(
        [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", f"--dashboard-port={dashboard}",
         "--dashboard-host=127.0.0.1", "--num-cpus=2", "--include-dashboard=true", "--disable-usage-stats",
         f"--temp-dir={tmp_path / 'ray'}"],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert start.returncode == 0, start.stderr
    try:
        address = f"http://127.0.0.1:{dashboard}"
        for _ in range(60):  # the job server comes up shortly after the head node
            probe = subprocess.run([RAY, "job", "list", "--address", address], env=env, capture_output=True, timeout=60)
            if probe.returncode == 0:
                break
            time.sleep(2)
        submit = subprocess.run(
            [RAY, "job", "submit", "--address", address, "--working-dir", ".", "--",
             "python", "-m", "platform.sweep", "tests/specs/tiny.yaml"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
        )
        assert submit.returncode == 0, submit.stdout[-4000:] + submit.stderr[-2000:]
        assert "succeeded" in submit.stdout
        assert "masked_ar" in submit.stdout and "2 trials" in submit.stdout
        # state lands in KIP_HOME, not in Ray's temporary copy of the checkout
        assert (home / "mlflow.db").exists()
        assert list((home / "results").glob("tiny-test-*/results.md"))
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
