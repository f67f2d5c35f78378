"""MLflow bookkeeping on resume: the sweep's run is found by its kind, never a trial's."""

from __future__ import annotations

from platform import tracking


def test_resumed_sweep_finds_its_parent_not_a_trial(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = tracking.check_reachable(uri, "resume")
    parent = tracking.start_sweep_run(uri, experiment, "sw", "sw", {"a": 1})
    tags = {"sweep_id": "sw", "objective": "ar"}
    first = tracking.start_trial_run(uri, experiment, parent, "sw/t1", "t1", {"a": 1}, tags)
    assert tracking.start_sweep_run(uri, experiment, "sw", "sw", {"a": 1}) == parent
    # a rerun of an unfinished trial replaces its partial run; the parent is untouched
    second = tracking.start_trial_run(uri, experiment, parent, "sw/t1", "t1", {"a": 1}, tags)
    assert second != first
    assert tracking.client(uri).get_run(first).info.lifecycle_stage == "deleted"
    assert tracking.start_sweep_run(uri, experiment, "sw", "sw", {"a": 1}) == parent
    tracking.end_run(uri, parent, "FINISHED")
    assert tracking.client(uri).get_run(parent).info.status == "FINISHED"
