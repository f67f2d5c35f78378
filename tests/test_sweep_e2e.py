"""The whole path on a real local Ray cluster and a real MLflow sqlite store.

`python -m platform.sweep` on a seconds-long spec: base model built and cached, Tune trials
launching Ray Train workers, Ray Data streaming masked samples, MLflow parent and child
runs with per-epoch histories; then the same command again resumes without duplicating.
"""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.integration
SPEC = str(REPO / "tests" / "specs" / "tiny.yaml")
PLANTED = "planted-secret-7f3a9c"


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory, cache_dir):
    home = tmp_path_factory.mktemp("kip-home")
    # planted secrets: nothing the sweep writes may contain them
    env = {
        "KIP_HOME": str(home),
        "HF_TOKEN": PLANTED,
        "MLFLOW_TRACKING_TOKEN": PLANTED,
        "AWS_SECRET_ACCESS_KEY": PLANTED,
        "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "0.5",
    }  # seconds-long trials: sample often
    first = run_cli("platform.sweep", SPEC, env=env)
    return home, env, first


def test_sweep_completes_and_prints_the_table(sweep_run):
    home, _, out = sweep_run
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    table = [line for line in out.stdout.splitlines() if line.startswith("| ")]
    assert table[0].split("|")[1:4] == [" trial    ", " objective ", " lr     "] or "objective" in table[0]
    objectives = sorted(line.split("|")[2].strip() for line in table[1:])
    assert objectives == ["ar", "masked_ar"]
    assert "mlflow ui --backend-store-uri sqlite:///" in out.stdout
    assert list((home / "results").glob("tiny-test-*/results.csv"))
    # the quiet log: nothing of what the trial processes log (MLflow's, transformers' lines)
    assert "pid=" not in out.stdout + out.stderr, out.stdout[-3000:]


def test_verbose_shows_what_the_trial_processes_log(tmp_path, cache_dir):
    """``--verbose`` on a sweep's own cluster: Ray forwards the trial process's log lines (its log
    monitor, which a quiet sweep does not start), as it does on a cluster the sweep joins."""
    one_trial = ["--set", "train.epochs=1", "--set", "search.grid={objective.name: [ar]}"]
    # MLflow's INFO level, as in a user's shell: an earlier test of this process may have set
    # the quiet one in its environment; the trial logs "Started monitoring system metrics" then
    env = {"KIP_HOME": str(tmp_path), "MLFLOW_LOGGING_LEVEL": "INFO"}
    out = run_cli("platform.sweep", SPEC, "--verbose", *one_trial, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    trial_lines = [line for line in (out.stdout + out.stderr).splitlines() if "(run_trial pid=" in line]
    assert any("system metrics" in line for line in trial_lines), (out.stdout + out.stderr)[-3000:]


def test_mlflow_has_parent_and_child_runs_with_histories(sweep_run):
    home, _, _ = sweep_run
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny-test")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("kind") == "trial"]
    assert len(parents) == 1 and len(children) == 2
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert {r.data.tags["objective"] for r in children} == {"ar", "masked_ar"}
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.params["train.lr"] == "0.0003"
        assert run.data.params["objective.name"] == run.data.tags["objective"]
        for metric in ("forward_acc", "backward_acc", "mean_acc", "loss"):
            history = client.get_metric_history(run.info.run_id, metric)
            assert [m.step for m in history] == [1, 2], metric
            upper = float("inf") if metric == "loss" else 1.0
            assert all(0.0 <= m.value <= upper for m in history)
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"resolved_spec.yaml", "predictions_best_epoch.jsonl"} <= artifacts
        # MLflow's system metrics of the machine the trial ran on
        cpu = client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")
        assert cpu and all(0.0 <= m.value <= 100.0 for m in cpu), cpu
        assert "system/system_memory_usage_megabytes" in run.data.metrics
    assert {"results.md", "results.csv"} <= {a.path for a in client.list_artifacts(parents[0].info.run_id)}


def test_mlflow_shows_each_trials_best_epoch_and_the_sweeps_answer(sweep_run):
    """The UI's first sight: per trial its best epoch's accuracies as metrics of their own (not
    only the last epoch's), the varied fields named; the sweep's run the best per objective,
    with the table and the report attached; a model-training experiment (opens on its runs)."""
    home, _, _ = sweep_run
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny-test")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if r.data.tags.get("kind") == "trial"]
    for run in children:
        history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "selection_acc")}
        best_epoch = max(history, key=lambda step: (history[step], -step))  # the first epoch reaching the best
        assert run.data.metrics["best_epoch"] == best_epoch
        assert run.data.metrics["best_selection_acc"] == history[best_epoch]
        forward = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "forward_acc")}
        assert run.data.metrics["best_forward_acc"] == forward[best_epoch]
        assert run.data.tags["varied"] == "objective.name"
    parent = next(r for r in runs if r.data.tags.get("kind") == "sweep")
    for objective in ("ar", "masked_ar"):
        mine = next(r for r in children if r.data.tags["objective"] == objective)
        assert parent.data.metrics[f"{objective}.backward_acc"] == pytest.approx(mine.data.metrics["best_backward_acc"])
    assert parent.data.metrics["best_mean_acc"] == pytest.approx(max(r.data.metrics["best_mean_acc"] for r in children))
    attached = {a.path for a in client.list_artifacts(parent.info.run_id)} | {
        a.path for a in client.list_artifacts(parent.info.run_id, "report")
    }
    assert {"results.md", "report/report.md", "report/accuracy_vs_epoch.png"} <= attached


def test_dry_run_prints_the_id_the_run_uses(sweep_run):
    _, env, out = sweep_run
    ran = next(line.split()[1].rstrip(":") for line in out.stdout.splitlines() if line.startswith("[sweep] tiny-test-"))
    dry = run_cli("platform.sweep", SPEC, "--dry-run", env=env)
    assert dry.returncode == 0 and dry.stdout.startswith(f"sweep {ran}:"), (ran, dry.stdout[:200])


def test_rerun_resumes_without_new_runs(sweep_run, shared_cluster):
    home, env, _ = sweep_run
    again = run_cli("platform.sweep", SPEC, env={**env, **shared_cluster})  # resuming needs no cluster of its own
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming" in again.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny-test")
    assert len(client.search_runs([experiment.experiment_id])) == 3


def test_same_seed_same_metrics(sweep_run, tmp_path, shared_cluster):
    """Reproducible: a fresh sweep of the same spec and seed logs the same accuracies (this one
    on a cluster it joins, the first on the local cluster it started)."""
    home, _, _ = sweep_run
    other = tmp_path / "home"
    out = run_cli("platform.sweep", SPEC, env={"KIP_HOME": str(other), **shared_cluster})
    assert out.returncode == 0, out.stderr[-3000:]

    def losses(store):
        client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("tiny-test")
        runs = client.search_runs([experiment.experiment_id], filter_string="tags.kind = 'trial'")
        return {
            r.data.tags["objective"]: [m.value for m in client.get_metric_history(r.info.run_id, "loss")] for r in runs
        }

    first, second = losses(home), losses(other)
    assert first.keys() == second.keys()
    for objective in first:
        assert first[objective] == pytest.approx(second[objective], rel=1e-5)


def test_report_by_sweep_id_writes_table_figures_and_logs_them(sweep_run):
    home, env, out = sweep_run
    sweep_id = next(p.parent.name for p in (home / "results").glob("tiny-test-*/results.csv"))
    report = run_cli("platform.report", sweep_id, env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    header = next(line for line in report.stdout.splitlines() if line.startswith("| objective.name"))
    assert [c.strip() for c in header.strip("|").split("|")][-4:] == ["forward", "backward", "best_epoch", "n"]
    folder = home / "reports" / sweep_id
    assert {"report.md", "report.csv", "best_epochs.csv", "accuracy_vs_epoch.png"} <= {p.name for p in folder.iterdir()}
    assert (folder / "accuracy_vs_epoch.png").read_bytes()[:4] == b"\x89PNG"
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    parent = client.search_runs(
        [client.get_experiment_by_name("tiny-test").experiment_id], filter_string="tags.kind = 'sweep'"
    )[0]
    assert {"report/report.md", "report/accuracy_vs_epoch.png"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id, "report")
    }


def test_report_unknown_target_is_a_clear_error(sweep_run):
    _, env, _ = sweep_run
    out = run_cli("platform.report", "no-such-sweep", env=env)
    assert out.returncode == 2 and "no sweep id or MLflow experiment named 'no-such-sweep'" in out.stderr
    assert "Traceback" not in out.stderr


def test_planted_secrets_appear_nowhere(sweep_run):
    home, _, out = sweep_run
    assert PLANTED not in out.stdout + out.stderr
    for path in home.rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path


def test_credentials_in_a_tracking_uri_are_redacted():
    from platform.tracking import redact

    assert redact("https://alice:s3cret@mlflow.example:5000/x") == "https://***@mlflow.example:5000/x"
    assert redact("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
