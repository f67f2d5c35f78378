"""Model selection: the best-epoch rule, a held-out validation split, per-trial patience, the stop reason."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from platform import report, results, selection
from platform.data.worlds.name_description import build_world
from platform.trial import split_validation
from tests.conftest import REPO, run_cli, trial_runs

NAN = float("nan")


def _history(run_id: str, rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    """One trial's evaluated epochs as (epoch, mean_acc on the test questions, selection_acc)."""
    return pd.DataFrame([{"run_id": run_id, "epoch": e, "mean_acc": m, "selection_acc": s} for e, m, s in rows])


def test_the_best_epoch_is_the_best_selection_accuracy_not_the_best_test_accuracy():
    history = _history("a", [(0, 0.1, 0.1), (1, 0.5, 0.7), (2, 0.9, 0.6), (3, 0.4, 0.2)])
    assert selection.best_epoch(history)["epoch"] == 1


def test_ties_go_to_the_earliest_epoch_whatever_the_row_order():
    """As the worker's own best (replaced only by a strictly higher value) and its checkpoint."""
    history = _history("a", [(3, 0.1, 0.8), (1, 0.2, 0.8), (2, 0.3, 0.5), (0, 0.0, 0.0)])
    assert selection.best_epoch(history)["epoch"] == 1
    assert selection.best_epochs(
        pd.concat([history, _history("b", [(2, 0.5, 0.5), (1, 0.5, 0.5)])], ignore_index=True)
    )["epoch"].tolist() == [1, 1]


def test_older_runs_without_selection_acc_fall_back_to_mean_acc_per_trial():
    older = _history("old", [(0, 0.1, NAN), (1, 0.6, NAN), (2, 0.3, NAN)])
    assert selection.best_epoch(older.drop(columns="selection_acc"))["epoch"] == 1
    assert selection.best_epoch(older)["epoch"] == 1
    # one older run in the experiment does not switch the others to selecting on the test questions
    validated = _history("val", [(0, 0.2, 0.2), (1, 0.9, 0.3), (2, 0.4, 0.8)])
    best = selection.best_epochs(pd.concat([validated, older], ignore_index=True))
    assert best[["run_id", "epoch"]].values.tolist() == [["old", 1], ["val", 2]]


def test_an_epoch_without_a_selection_value_is_never_picked():
    history = _history("a", [(0, 0.1, 0.1), (1, 0.9, NAN), (2, 0.3, 0.4)])
    assert selection.best_epoch(history)["epoch"] == 2
    assert selection.selection_column(history) == "selection_acc"


def test_nothing_to_select_on_gives_no_epoch():
    assert selection.best_epoch(None) is None and selection.best_epoch(pd.DataFrame()) is None
    blank = _history("blank", [(0, NAN, NAN), (1, NAN, NAN)])
    assert selection.best_epoch(blank) is None and selection.selection_column(blank) is None
    best = selection.best_epochs(pd.concat([blank, _history("a", [(0, 0.1, 0.2)])], ignore_index=True))
    assert best["run_id"].tolist() == ["a"] and best["epoch"].dtype.kind == "i"


def test_the_results_table_and_the_report_select_the_same_epochs():
    histories = {
        "val": _history("val", [(0, 0.2, 0.2), (1, 0.9, 0.3), (2, 0.4, 0.8), (3, 0.4, 0.8)]),
        "old": _history("old", [(0, 0.1, NAN), (1, 0.6, NAN)]).drop(columns="selection_acc"),
    }
    grid = [
        SimpleNamespace(config={}, metrics_dataframe=h.drop(columns="run_id"), path=f"/sweep/{name}", error=None)
        for name, h in histories.items()
    ]
    spec = SimpleNamespace(objective=SimpleNamespace(name="ar"), train=SimpleNamespace(lr=1e-4, seed=0))
    table = results.results_table(grid, spec).frame.set_index("trial")
    assert (
        table.loc["val", "best_epoch"] == 2
        and table.loc["val", "selection_acc"] == 0.8
        and table.loc["val", "mean_acc"] == 0.4
    )
    assert table.loc["old", "best_epoch"] == 1 and table.loc["old", "selection_acc"] == 0.6
    assert report.best_epochs is selection.best_epochs
    best = report.best_epochs(pd.concat(histories.values(), ignore_index=True)).set_index("run_id")
    assert best["epoch"].to_dict() == table["best_epoch"].to_dict()


def test_validation_split_holds_out_whole_entities():
    questions = build_world(0, 10, 20, 0.5).injection_corpus().questions
    test, validation = split_validation(questions, 0.25, seed=0)
    assert len({q.entity for q in validation}) == 5
    assert not {q.entity for q in test} & {q.entity for q in validation}
    assert len(test) + len(validation) == len(questions)
    assert split_validation(questions, 0.25, seed=0) == (test, validation)


@pytest.mark.integration
def test_patience_stops_a_trial_and_validation_metrics_are_logged(tmp_path, shared_cluster):
    out = run_cli(
        "platform.sweep",
        str(REPO / "tests" / "specs" / "tiny.yaml"),
        "--set",
        "train.epochs=6",
        "--set",
        "eval.patience=1",
        "--set",
        "eval.select_on=validation",
        "--set",
        "search.grid={objective.name: [ar]}",
        "--set",
        "tracking.experiment=selection",
        env={"KIP_HOME": str(tmp_path), **shared_cluster},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    client, runs = trial_runs(tmp_path, "selection")
    run = runs[0]
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "selection_acc")]
    validation = client.get_metric_history(run.info.run_id, "val_mean_acc")
    assert [m.step for m in validation] == steps
    assert [m.value for m in client.get_metric_history(run.info.run_id, "selection_acc")] == [
        m.value for m in validation
    ]
    reason = run.data.tags["stop_reason"]
    # the tiny model learns nothing in a few epochs, so patience ends the trial early
    assert reason.startswith("patience") and steps[-1] < 6, (reason, steps)
