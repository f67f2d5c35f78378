"""Faults a sweep must survive: Ctrl-C then resume, and a failing trial among good ones."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, run_cli, trial_runs

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kill", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_interrupted_sweep_resumes_every_trial_exactly_once(tmp_path, shared_cluster, kill):
    """The interrupted driver owns its local cluster (it goes with it); the rerun resumes from the
    sweep's storage and MLflow store, on the shared cluster: resuming needs no cluster of its own."""
    env = {**os.environ, "KIP_HOME": str(tmp_path)}
    spec = str(REPO / "tests" / "specs" / "three_seeds.yaml")
    driver = subprocess.Popen(
        [sys.executable, "-m", "platform.sweep", spec],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in driver.stdout:  # Ctrl-C (or kill -9) as soon as the first trial has finished
        lines.append(line)
        if line.startswith("[sweep] done"):
            driver.send_signal(kill)
            break
    rest, _ = driver.communicate(timeout=300)
    output = "".join(lines) + rest
    if kill == signal.SIGINT:
        assert driver.returncode == 130, output[-3000:]
        assert "Run the same command again to resume" in output
    else:  # no handler runs: Tune's periodic state and MLflow's partial run are all there is
        assert driver.returncode == -signal.SIGKILL

    again = run_cli("platform.sweep", spec, env={"KIP_HOME": str(tmp_path), **shared_cluster})
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming" in again.stdout
    client, runs = trial_runs(tmp_path, "three-seeds")
    assert sorted(r.data.params["train.seed"] for r in runs) == ["0", "1", "2"]
    assert all(r.info.status == "FINISHED" for r in runs)
    for run in runs:  # no history mixed from a partial first attempt
        assert [m.step for m in client.get_metric_history(run.info.run_id, "forward_acc")] == [1, 2]
    table = [line for line in again.stdout.splitlines() if line.startswith("| ")][1:]
    assert len(table) == 3 and all(line.rstrip(" |").endswith("ok") for line in table)


def test_failing_trial_is_recorded_and_the_others_complete(tmp_path, shared_cluster):
    spec = str(REPO / "tests" / "specs" / "tiny.yaml")
    out = run_cli(
        "platform.sweep",
        spec,
        "--set",
        "search.grid={'objective.name': [ar, 'tests.plugins.faulty:NaNLossAR']}",
        "--set",
        "tracking.experiment=faults",
        "--set",
        "checkpoint.max_failures=0",  # a NaN comes back on every retry
        env={"KIP_HOME": str(tmp_path), **shared_cluster},
    )
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    assert "1 failed" in out.stdout and "FAILED" in out.stdout
    assert "Trial task failed" not in out.stdout + out.stderr  # Tune's traceback: the FAILED line says it
    _, runs = trial_runs(tmp_path, "faults")
    status = {r.data.tags["objective"]: r for r in runs}
    assert status["ar"].info.status == "FINISHED"
    failed = status["tests.plugins.faulty:NaNLossAR"]
    assert failed.info.status == "FAILED"
    assert "loss became nan" in failed.data.tags["error"]


def test_killed_worker_restarts_from_the_last_checkpoint(tmp_path, shared_cluster):
    marker = tmp_path / "killed.pid"
    out = run_cli(
        "platform.sweep",
        str(REPO / "tests" / "specs" / "tiny.yaml"),
        "--set",
        "search.grid={objective.name: ['tests.plugins.faulty:KilledOnceAR']}",
        "--set",
        "train.epochs=4",
        "--set",
        "tracking.experiment=killed-worker",
        "--set",
        f"objective.marker={marker}",
        env={"KIP_HOME": str(tmp_path), **shared_cluster},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert marker.exists(), "the worker was never killed"
    client, runs = trial_runs(tmp_path, "killed-worker")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "forward_acc")]
    # evaluated before the kill (in epoch 3), then resumed from the last persisted checkpoint:
    # every epoch is in the history; one evaluated after that checkpoint may appear twice
    assert sorted(set(steps)) == [1, 2, 3, 4] and len(steps) <= 5, steps


@pytest.mark.parametrize("target", ["driver", "process-group"])
def test_ctrl_c_while_a_trial_trains_is_reported_as_an_interrupt(tmp_path, shared_cluster, target):
    """SIGINT mid-trial (to the driver, or to its process group as a terminal sends it): exit 130,
    the resume hint, the trial listed as interrupted and its run KILLED, the sweep run KILLED."""
    env = {**os.environ, "KIP_HOME": str(tmp_path)}
    args = [
        sys.executable,
        "-m",
        "platform.sweep",
        str(REPO / "tests" / "specs" / "tiny.yaml"),
        "--set",
        "train.epochs=300",
        "--set",
        "eval.every=30",
        "--set",
        "search.grid={objective.name: [ar]}",
        "--set",
        "tracking.experiment=ctrl-c",
    ]
    driver = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines = []
    for line in driver.stdout:
        lines.append(line)
        if " epoch   30/300" in line:  # training, not yet finished
            os.killpg(driver.pid, signal.SIGINT) if target == "process-group" else driver.send_signal(signal.SIGINT)
            break
    rest, _ = driver.communicate(timeout=300)
    output = "".join(lines) + rest
    assert driver.returncode == 130, output[-3000:]
    assert "Run the same command again to resume" in output and "Tuner.restore" not in output
    table = [line for line in output.splitlines() if line.startswith("| ")][1:]
    assert len(table) == 1 and table[0].rstrip(" |").endswith("interrupted"), table
    assert "(0 failed)" in output
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ctrl-c")
    runs = {r.data.tags["kind"]: r for r in client.search_runs([experiment.experiment_id])}
    assert runs["sweep"].info.status == "KILLED"
    trial = runs["trial"]
    assert trial.info.status == "KILLED" and trial.data.tags["stop_reason"].startswith("interrupted"), (
        trial.info.status,
        trial.data.tags,
    )
    if target == "process-group":  # and the rerun resumes and finishes it
        rerun_env = {**env, **shared_cluster}  # resuming needs no cluster of its own
        again = subprocess.run(args, cwd=REPO, env=rerun_env, capture_output=True, text=True, timeout=400)
        assert again.returncode == 0 and "resuming" in again.stdout, again.stdout[-3000:] + again.stderr[-2000:]
        _, finished = trial_runs(tmp_path, "ctrl-c")
        assert len(finished) == 1 and finished[0].info.status == "FINISHED"
