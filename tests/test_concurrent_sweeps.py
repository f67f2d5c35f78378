"""Two sweeps started at once on one Ray cluster, one MLflow experiment, one state folder and
one (empty) base-model cache: nothing mixes; a third driver of a running sweep is refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO
from tests.ray_head import ray_head

pytestmark = pytest.mark.integration


def test_two_sweeps_at_once_keep_runs_checkpoints_and_cache_apart(tmp_path):
    home, cache = tmp_path / "home", tmp_path / "cache"  # a cold cache: both drivers race to build
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "KIP_HOME": str(home), "KIP_CACHE_DIR": str(cache)}
    with ray_head(env) as head:

        def command(name: str, lr: str) -> list[str]:
            return [
                sys.executable,
                "-m",
                "platform.sweep",
                str(REPO / "tests" / "specs" / "tiny.yaml"),
                "--address",
                head.gcs_address,
                "--set",
                f"name={name}",
                "--set",
                f"train.lr={lr}",
                "--set",
                "search.grid={objective.name: [ar]}",
                "--set",
                "train.epochs=600",
                "--set",
                "eval.every=100",
                "--set",
                "tracking.experiment=shared",
            ]

        first, second = (
            subprocess.Popen(
                command(*args), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for args in (("sweep-a", "3e-4"), ("sweep-b", "1e-3"))
        )
        lines = []
        # while the first sweep runs, a copy of it must be refused: the copy is started once the
        # first holds its lock (taken as it prints its id) and needs seconds of checks to reach
        # it, by which time the first is far from done (its trial alone trains for seconds)
        for line in first.stdout:
            lines.append(line)
            if line.startswith("[sweep] sweep-a-"):
                break
        copy = subprocess.run(
            command("sweep-a", "3e-4"), cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        outputs = {
            "sweep-a": "".join(lines) + first.communicate(timeout=900)[0],
            "sweep-b": second.communicate(timeout=900)[0],
        }
    assert copy.returncode == 2, copy.stdout[-2000:] + copy.stderr[-2000:]
    assert "this sweep is already running (driver pid" in copy.stderr, copy.stderr[-800:]
    for name, process in (("sweep-a", first), ("sweep-b", second)):
        assert process.returncode == 0, outputs[name][-4000:]

    # one base model, built by one driver while the other waited on the lock; no staging leftovers
    assert sum("[base] building" in output for output in outputs.values()) == 1
    assert sorted(p.name for p in (cache / "base").iterdir() if p.is_dir()) == [
        p.name for p in (cache / "base").glob("causal-*") if p.is_dir()
    ]
    assert len([p for p in (cache / "base").iterdir() if p.is_dir()]) == 1

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("shared").experiment_id
    parents = client.search_runs([experiment], filter_string="tags.kind = 'sweep'")
    assert sorted(p.data.tags["sweep_id"].rsplit("-", 1)[0] for p in parents) == ["sweep-a", "sweep-b"]
    trial_ids = {}
    for parent in parents:
        sweep_id = parent.data.tags["sweep_id"]
        children = client.search_runs([experiment], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        assert len(children) == 1 and all(c.info.status == "FINISHED" for c in children)
        assert all(
            c.data.tags["sweep_id"] == sweep_id and c.data.tags["trial_key"].startswith(f"{sweep_id}/")
            for c in children
        )
        assert {c.data.params["train.lr"] for c in children} == {
            {"sweep-a": "0.0003", "sweep-b": "0.001"}[parent.data.tags["sweep_id"].rsplit("-", 1)[0]]
        }
        trial_ids[sweep_id] = {c.data.tags["trial_key"].split("/", 1)[1] for c in children}
        # each sweep's trials and their checkpoints live under its own folder, named by its own trials
        assert {p.parent.name for p in (home / "results" / sweep_id).glob("*/checkpoint_*")} == trial_ids[sweep_id]
    first_ids, second_ids = trial_ids.values()
    assert not first_ids & second_ids
