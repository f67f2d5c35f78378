"""The users' cluster path: `ray start --head` on 127.0.0.1, then `ray job submit` of a
sweep whose trials each run 2 Ray Train workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ray_head import RAY, ray_head

pytestmark = pytest.mark.integration


def test_ray_job_submit_runs_a_sweep(tmp_path, cache_dir):
    home = tmp_path / "home"
    # as after `source .venv/bin/activate`: the job's `python` is the project's interpreter
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "RAY_AUTH_MODE": "disabled", "KIP_HOME": str(home), "KIP_CACHE_DIR": str(cache_dir)}
    with ray_head(env, dashboard=True) as head:
        address = head.dashboard_address
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
