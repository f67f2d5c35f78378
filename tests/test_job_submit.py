"""The users' cluster path: `ray start --head` on 127.0.0.1, then `ray job submit` of a
sweep whose trial runs 2 Ray Train workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ray_head import RAY, ray_head

pytestmark = pytest.mark.integration


def test_ray_job_submit_runs_a_sweep_and_a_bare_submission_resumes_it(tmp_path, cache_dir):
    job_home = tmp_path / "job-home"  # the jobs' $HOME: no KIP_HOME, so the default state dir
    # as after `source .venv/bin/activate`: the job's `python` is the project's interpreter
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # as the README documents it: token authentication, one token for `ray start` and `ray job submit`
    home = tmp_path / "home"
    # (named by path: the job below runs with a HOME of its own, where ~/.ray/auth_token is not)
    env = {
        **os.environ,
        "PATH": path,
        "HOME": str(home),
        "RAY_AUTH_MODE": "token",
        "KIP_CACHE_DIR": str(cache_dir),
        "RAY_AUTH_TOKEN_PATH": str(home / ".ray" / "auth_token"),
    }
    env.pop("KIP_HOME", None)
    without_path = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN_PATH"}  # --generate writes the default file
    subprocess.run([RAY, "get-auth-token", "--generate"], env=without_path, check=True, capture_output=True, timeout=60)
    assert (home / ".ray" / "auth_token").is_file()
    runtime_env = json.dumps({"env_vars": {"HOME": str(job_home)}})
    # one trial: a second (ar beside masked_ar) would take the same path again, a minute of CPU
    sweep = ["python", "-m", "platform.sweep", "tests/specs/tiny.yaml", "--set", "resources.num_workers=2"]
    sweep += ["--set", "search.grid={objective.name: [masked_ar]}"]
    with ray_head(env, dashboard=True) as head:
        address = head.dashboard_address

        def submit(*options: str) -> subprocess.CompletedProcess:
            for _ in range(60):  # the dashboard's job agent comes up a little after the head node
                done = subprocess.run(
                    [
                        RAY,
                        "job",
                        "submit",
                        "--address",
                        address,
                        "--runtime-env-json",
                        runtime_env,
                        *options,
                        "--",
                        *sweep,
                    ],
                    cwd=REPO,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                if not any(s in done.stderr for s in ("No available agent", "Connection refused", "Failed to connect")):
                    return done
                time.sleep(2)
            return done

        first = submit("--working-dir", ".")
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        assert "succeeded" in first.stdout
        assert "masked_ar" in first.stdout and "(1/1 trials" in first.stdout
        # state lands in the jobs' state dir, not in Ray's temporary copy of the checkout
        state = job_home / "knowledge-injection-platform"
        assert (state / "mlflow.db").exists()
        assert list((state / "results").glob("tiny-test-*/results.md"))
        # and so do the MLflow runs' files: the driver's working directory is Ray's copy
        assert list((state / "mlruns").glob("*/*/artifacts/sweep_spec.yaml"))
        # a bare submission (no --working-dir: the entrypoint runs in the checkout) finds the
        # same store and resumes the same sweep instead of starting it again in the checkout
        bare = submit()
        assert bare.returncode == 0, bare.stdout[-4000:] + bare.stderr[-2000:]
        assert "resuming" in bare.stdout
        assert not (REPO / "results").joinpath(next(state.glob("results/tiny-test-*")).name).exists()
