"""The users' cluster path: `ray start --head` on 127.0.0.1, then `ray job submit` of a
sweep whose trials each run 2 Ray Train workers.

The head runs with `--block` in its own process group and is stopped by signalling that
group: `ray stop` would kill every Ray cluster on the machine, including a developer's.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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
    temp_dir = tempfile.mkdtemp(prefix="kip-ray-", dir="/tmp")  # unix socket paths: <108 bytes
    # as after `source .venv/bin/activate`: the job's `python` is the project's interpreter
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "RAY_AUTH_MODE": "disabled", "KIP_HOME": str(home), "KIP_CACHE_DIR": str(cache_dir)}
    port, dashboard = free_port(), free_port()
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", f"--dashboard-port={dashboard}",
         "--dashboard-host=127.0.0.1", "--num-cpus=2", "--include-dashboard=true", "--disable-usage-stats",
         f"--temp-dir={temp_dir}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        address = f"http://127.0.0.1:{dashboard}"
        for _ in range(60):  # the dashboard's job agent comes up a little after the head node
            submit = subprocess.run(
                [RAY, "job", "submit", "--address", address, "--working-dir", ".", "--",
                 "python", "-m", "platform.sweep", "tests/specs/tiny.yaml", "--set", "resources.num_workers=2"],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
            )
            if not any(s in submit.stderr for s in ("No available agent", "Connection refused", "Failed to connect")):
                break
            time.sleep(2)
        assert submit.returncode == 0, submit.stdout[-4000:] + submit.stderr[-2000:]
        assert "succeeded" in submit.stdout
        assert "masked_ar" in submit.stdout and "2 trials" in submit.stdout
        # state lands in KIP_HOME, not in Ray's temporary copy of the checkout
        assert (home / "mlflow.db").exists()
        assert list((home / "results").glob("tiny-test-*/results.md"))
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)
