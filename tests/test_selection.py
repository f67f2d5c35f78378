"""Model selection on a held-out validation split, per-trial patience, and the stop reason."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from platform.data.worlds.name_description import build_world
from platform.trial import split_validation
from tests.conftest import REPO, run_cli


def test_validation_split_holds_out_whole_entities():
    questions = build_world(0, 10, 20, 0.5).injection_corpus().questions
    test, validation = split_validation(questions, 0.25, seed=0)
    assert len({q.entity for q in validation}) == 5
    assert not {q.entity for q in test} & {q.entity for q in validation}
    assert len(test) + len(validation) == len(questions)
    assert split_validation(questions, 0.25, seed=0) == (test, validation)


@pytest.mark.integration
def test_patience_stops_a_trial_and_validation_metrics_are_logged(tmp_path, cache_dir):
    out = run_cli(
        "platform.sweep", str(REPO / "tests" / "specs" / "tiny.yaml"),
        "--set", "train.epochs=6", "--set", "eval.patience=1", "--set", "eval.select_on=validation",
        "--set", "search.grid={objective.name: [ar]}", "--set", "tracking.experiment=selection",
        env={"KIP_HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("selection").experiment_id], filter_string="tags.kind = 'trial'")[0]
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "selection_acc")]
    validation = client.get_metric_history(run.info.run_id, "val_mean_acc")
    assert [m.step for m in validation] == steps
    assert [m.value for m in client.get_metric_history(run.info.run_id, "selection_acc")] == [m.value for m in validation]
    reason = run.data.tags["stop_reason"]
    # the tiny model learns nothing in a few epochs, so patience ends the trial early
    assert reason.startswith("patience") and steps[-1] < 6, (reason, steps)
