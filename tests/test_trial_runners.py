"""Where a trial trains: in the Tune trial's own process (one plain worker, the default) or on a
Ray Train worker group. Same spec and seed, same metrics; a reused process frees each trial."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, run_cli, trial_runs

pytestmark = pytest.mark.integration
TINY = str(REPO / "tests" / "specs" / "tiny.yaml")
CURVES = ("loss", "forward_acc", "backward_acc", "retention_mean_acc", "tokens_seen")


def curves(home) -> dict[tuple[str, str], dict[str, list[tuple[int, float]]]]:
    """(runner, objective) -> metric -> [(step, value)] of every trial of the sweep."""
    client, runs = trial_runs(home, "runners")
    return {
        (run.data.params["resources.runner"], run.data.tags["objective"]): {
            key: [
                (m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
            ]
            for key in CURVES
        }
        for run in runs
    }


def test_trial_process_and_worker_group_give_the_same_metrics(tmp_path, shared_cluster):
    # one sweep over both runners: one driver, job and store for the four trials
    out = run_cli(
        "platform.sweep",
        TINY,
        "--set",
        "train.epochs=3",
        "--set",
        "eval.every=1",
        "--set",
        "search.grid={resources.runner: [trial_process, ray_train], objective.name: [ar, masked_ar]}",
        "--set",
        "tracking.experiment=runners",
        env={"KIP_HOME": str(tmp_path), **shared_cluster},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    found = curves(tmp_path)
    assert sorted(found) == [(r, o) for r in ("ray_train", "trial_process") for o in ("ar", "masked_ar")]
    for objective in ("ar", "masked_ar"):
        in_process, workers = found[("trial_process", objective)], found[("ray_train", objective)]
        assert [step for step, _ in in_process["loss"]] == [1, 2, 3]
        for key, history in in_process.items():
            other = workers[key]
            assert [step for step, _ in history] == [step for step, _ in other], (objective, key)
            assert [value for _, value in history] == pytest.approx(
                [value for _, value in other], rel=1e-5, abs=1e-6
            ), (objective, key)


def test_a_reused_trial_process_releases_the_previous_trials_model(tmp_path, shared_cluster):
    probe = tmp_path / "pids.txt"
    out = run_cli(
        "platform.sweep",
        TINY,
        "--set",
        "search.grid={objective.name: ['tests.plugins.probes:ReleaseCheckingAR'], train.seed: [0, 1, 2]}",
        "--set",
        "search.max_concurrent=1",
        "--set",
        "tracking.experiment=reuse",
        "--set",
        f"objective.probe_file={probe}",
        env={"KIP_HOME": str(tmp_path), **shared_cluster},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    pids = probe.read_text().split()
    assert len(pids) == 3 and len(set(pids)) == 1, pids  # three trials, one process: each freed the last
