"""MLflow bookkeeping on resume: the sweep's run is found by its kind, never a trial's."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform import tracking
from platform.errors import ServiceUnavailable


def test_resumed_sweep_finds_its_parent_not_a_trial(tmp_path):
    store = tracking.Tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = store.check_reachable("resume")
    parent = store.start_sweep_run(experiment, "sw", "sw", {"a": 1})
    tags = {"sweep_id": "sw", "objective": "ar"}
    first = store.start_trial_run(experiment, parent, "sw/t1", "t1", {"a": 1}, tags)
    assert store.start_sweep_run(experiment, "sw", "sw", {"a": 1}) == parent
    # a rerun of an unfinished trial replaces its partial run; the parent is untouched
    second = store.start_trial_run(experiment, parent, "sw/t1", "t1", {"a": 1}, tags)
    assert second != first
    assert store.client().get_run(first).info.lifecycle_stage == "deleted"
    assert store.start_sweep_run(experiment, "sw", "sw", {"a": 1}) == parent
    store.end_run(parent, "FINISHED")
    assert store.client().get_run(parent).info.status == "FINISHED"


def test_resumed_trial_drops_the_epochs_its_lost_checkpoint_had_logged(tmp_path):
    """A killed driver lost the record of epoch 2's checkpoint after the trial had logged epoch 2:
    the trial resumes after epoch 1, and its run must not show epoch 2 twice."""
    store = tracking.Tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = store.check_reachable("resume")
    parent = store.start_sweep_run(experiment, "sw", "sw", {"a": 1})
    tags = {"sweep_id": "sw", "objective": "ar"}
    first = store.start_trial_run(experiment, parent, "sw/t1", "t1", {"a": 1}, tags)
    logger = store.trial_logger(first)
    for epoch, acc in [(1, 0.25), (2, 0.5)]:
        logger.log_epoch({"forward_acc": acc, "selection_acc": acc, "epoch": epoch}, epoch, [])
    logger.close()
    client = store.client()
    # the checkpoint of the last logged epoch was kept: the run continues as it is
    assert store.start_trial_run(experiment, parent, "sw/t1", "t1", {"a": 1}, tags, resume_after=2) == first

    resumed = store.start_trial_run(experiment, parent, "sw/t1", "t1", {"a": 1}, tags, resume_after=1)
    assert resumed != first and client.get_run(first).info.lifecycle_stage == "deleted"
    run = client.get_run(resumed)
    assert [(m.step, m.value) for m in client.get_metric_history(resumed, "forward_acc")] == [(1, 0.25)]
    assert [m.step for m in client.get_metric_history(resumed, "best_epoch")] == [1]
    assert run.data.params == {"a": "1"} and run.data.tags[tracking.PARENT_TAG] == parent
    assert run.data.tags["trial_key"] == "sw/t1" and run.info.run_name == "t1"
    artifacts = {a.path for a in client.list_artifacts(resumed)}
    assert "resolved_spec.yaml" in artifacts and tracking.PREDICTIONS_FILE not in artifacts  # epoch 2's best
    assert store.find_run(experiment, "trial_key", "sw/t1") == resumed


def test_fresh_start_supersedes_the_old_sweep_run_without_deleting_it(tmp_path):
    store = tracking.Tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = store.check_reachable("fresh")
    old = store.start_sweep_run(experiment, "sw", "sw", {"a": 1})
    new = store.start_sweep_run(experiment, "sw", "sw", {"a": 1}, fresh=True)
    assert new != old
    assert store.client().get_run(old).data.tags["kind"] == "superseded-sweep"
    assert store.client().get_run(old).info.lifecycle_stage == "active"
    assert store.find_run(experiment, "sweep_id", "sw", kind="sweep") == new


class Flaky:
    """Fails like an unreachable MLflow server ``failures`` times, then succeeds."""

    def __init__(
        self, failures: int, message: str = "API request to http://h/api failed with exception Connection refused"
    ) -> None:
        self.failures, self.message, self.calls = failures, message, 0

    def __call__(self, *args, **kwargs) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(self.message)
        return "ok"


def test_transient_store_errors_are_retried_then_reported(monkeypatch):
    monkeypatch.setattr(tracking.time, "sleep", lambda seconds: None)
    flaky = Flaky(3)
    assert tracking.retrying(flaky, "http://h", seconds=60) == "ok" and flaky.calls == 4
    with pytest.raises(ServiceUnavailable, match=r"unreachable for 0 s \(tracking.retry_seconds\)"):
        tracking.retrying(Flaky(10), "http://h", seconds=0)
    rejected = Flaky(1, "INVALID_PARAMETER_VALUE: bad metric")  # not an outage: no retry
    with pytest.raises(RuntimeError, match="bad metric"):
        tracking.retrying(rejected, "http://h", seconds=60)
    assert rejected.calls == 1


def test_trial_logger_queues_during_an_outage_and_sends_in_order(tmp_path, monkeypatch):
    store = tracking.Tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = store.check_reachable("queue")
    run = store.client().create_run(experiment).info.run_id
    logger = store.trial_logger(run)
    real_log_batch = logger.client.log_batch
    outage = {"on": True}

    def log_batch(*args, **kwargs):
        if outage["on"]:
            raise RuntimeError("API request to http://h/api failed with exception Connection refused")
        return real_log_batch(*args, **kwargs)

    monkeypatch.setattr(logger.client, "log_batch", log_batch)
    for epoch in (1, 2, 3):
        logger.log_epoch({"forward_acc": epoch / 10, "selection_acc": epoch / 10}, epoch, [])
    assert [name for name, _ in logger.pending] == [
        "epoch 1 metrics",
        "epoch 2 metrics",
        "epoch 3 metrics",
        "predictions",
    ]
    outage["on"] = False
    logger.set_stop_reason("completed")
    logger.close()
    history = store.client().get_metric_history(run, "forward_acc")
    assert [(m.step, m.value) for m in history] == [(1, 0.1), (2, 0.2), (3, 0.3)]
    assert store.client().get_run(run).data.tags["stop_reason"] == "completed"


def test_trial_logger_fails_loudly_when_the_store_never_returns(tmp_path, monkeypatch):
    store = tracking.Tracking(f"sqlite:///{tmp_path / 'mlflow.db'}", retry_seconds=0)
    experiment = store.check_reachable("dead")
    run = store.client().create_run(experiment).info.run_id
    logger = store.trial_logger(run)
    monkeypatch.setattr(logger.client, "log_batch", Flaky(10**6))
    monkeypatch.setattr(tracking.time, "sleep", lambda seconds: None)
    logger.log_epoch({"forward_acc": 0.5}, 1, [])
    with pytest.raises(ServiceUnavailable, match="unreachable for 0 s .*not logged: epoch 1 metrics"):
        logger.close()


def test_a_tracking_handle_is_what_every_process_gets_and_can_give_up_sooner():
    store = tracking.Tracking("http://user:token@h:5000", retry_seconds=300)
    assert store.shown == "http://***@h:5000" and store.waiting_at_most(10).retry_seconds == 10
    assert store.waiting_at_most(10).uri == store.uri and store.retry_seconds == 300  # a copy: frozen
    import pickle

    assert pickle.loads(pickle.dumps(store)) == store  # what Ray ships to trials and workers


def test_an_unreachable_server_is_one_short_clause():
    from platform.tracking import short_reason

    noisy = ConnectionError(
        "HTTPConnectionPool(host='127.0.0.1', port=5999): Max retries exceeded with url: /api/2.0/mlflow/experiments/"
        "get-by-name?experiment_name=x (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at "
        "0x7f>: Failed to establish a new connection: [Errno 111] Connection refused'))"
    )
    assert (
        short_reason(noisy, "http://127.0.0.1:5999")
        == "connection refused (is the MLflow server running at that address?)"
    )
    assert len(short_reason(ValueError("x" * 1000), "u")) == 200


def test_browse_hint_is_runnable_as_printed():
    from platform.tracking import browse_hint

    assert browse_hint("http://127.0.0.1:5000") == "open http://127.0.0.1:5000 in a browser"
    local = browse_hint("sqlite:////tmp/m.db")
    assert "mlflow ui --backend-store-uri sqlite:////tmp/m.db --host 127.0.0.1" in local
    command = local.split("\n", 1)[1].split()[0]
    assert (command.endswith("mlflow") and Path(command).exists()) or "python" in Path(command).name
    hidden = browse_hint("postgresql://kip:s3cret@db/mlflow")
    assert "s3cret" not in hidden and '"$MLFLOW_TRACKING_URI"' in hidden


def test_a_sqlite_store_keeps_artifacts_beside_its_database_whatever_the_working_directory(tmp_path, monkeypatch):
    """MLflow would put them in ``./mlruns`` of the process that creates the experiment: for a
    submitted job that is Ray's temporary copy of the checkout, deleted after the job."""
    elsewhere = tmp_path / "ray-working-dir"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    store = tracking.Tracking(tracking.tracking_uri(f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"))
    experiment = store.check_reachable("lr sweep/2")
    parent = store.start_sweep_run(experiment, "sw", "sw", {"a": 1})  # logs sweep_spec.yaml
    assert list((tmp_path / "state" / "mlruns" / "lr_sweep_2").glob(f"{parent}/artifacts/sweep_spec.yaml"))
    assert not list(elsewhere.iterdir())
    # a file store keeps its artifacts inside itself, a server has its own root: MLflow decides
    assert tracking.artifact_location(f"file://{tmp_path}/runs", "x") is None
    assert tracking.artifact_location("http://127.0.0.1:5000", "x") is None


def test_an_experiment_whose_files_live_in_rays_copy_of_the_checkout_is_pointed_out(tmp_path):
    """Created by an earlier version from a submitted job: its runs' files go where Ray deletes them."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = tracking.Tracking(uri)
    kept = store.check_reachable("kept")
    copy = tmp_path / "ray" / "session_1" / "runtime_resources" / "working_dir_files" / "_ray_pkg_0a1b" / "mlruns"
    at_risk = MlflowClient(uri).create_experiment("old", artifact_location=f"{copy.as_uri()}/1")
    assert store.artifacts_at_risk(kept) is None
    note = store.artifacts_at_risk(at_risk)
    assert note.startswith("experiment 'old' ") and str(copy) in note and "tracking.experiment" in note
