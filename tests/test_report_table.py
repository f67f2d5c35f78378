"""The report's table: seeds aggregated as mean ± std with n, single trials and math shown plainly."""

from __future__ import annotations

import pandas as pd

from platform.report import aggregate, paper_table


def best_rows() -> pd.DataFrame:
    rows = [
        {
            "run_id": "a0",
            "objective.name": "masked_ar",
            "train.seed": "0",
            "paraphrases": "none",
            "data.paraphrases": "none",
            "forward_acc": 0.6,
            "backward_acc": 0.3,
            "epoch": 100,
        },
        {
            "run_id": "a1",
            "objective.name": "masked_ar",
            "train.seed": "1",
            "paraphrases": "none",
            "data.paraphrases": "none",
            "forward_acc": 0.8,
            "backward_acc": 0.5,
            "epoch": 200,
        },
        {
            "run_id": "b0",
            "objective.name": "ar",
            "train.seed": "0",
            "paraphrases": "none",
            "data.paraphrases": "none",
            "forward_acc": 0.7,
            "backward_acc": 0.0,
            "epoch": 50,
        },
        {
            "run_id": "c0",
            "objective.name": "sft",
            "train.seed": "0",
            "paraphrases": "none",
            "data.paraphrases": "none",
            "forward_acc": 0.1,
            "backward_acc": float("nan"),
            "epoch": 5,
        },
    ]
    return pd.DataFrame(rows)


def test_seeds_aggregate_and_single_trials_print_plainly():
    table = paper_table(aggregate(best_rows()))
    assert list(table.columns) == [
        "objective.name",
        "paraphrases",
        "forward",
        "backward",
        "best_epoch",
        "n",
    ]  # seed and data.paraphrases folded
    rows = {r["objective.name"]: r for r in table.to_dict("records")}
    assert rows["masked_ar"]["forward"] == "0.700 ± 0.141" and rows["masked_ar"]["n"] == 2
    assert rows["masked_ar"]["best_epoch"] == 150
    assert rows["ar"]["backward"] == "0.000" and rows["ar"]["n"] == 1
    assert rows["sft"]["backward"] == "—"


def test_the_accuracy_before_training_is_shown_where_trials_evaluated_epoch_0():
    """Epoch 0 is the base model's own score: "both above the base model" is read off the table."""
    best = best_rows()
    start = best.assign(epoch=0, forward_acc=[0.2, 0.4, 0.5, 0.05], backward_acc=[0.1, 0.1, 0.0, float("nan")])
    table = paper_table(aggregate(best, pd.concat([best, start.drop(index=2)])))
    assert list(table.columns)[-3:] == ["before training", "best_epoch", "n"]
    rows = {r["objective.name"]: r["before training"] for r in table.to_dict("records")}
    assert rows == {"masked_ar": "0.300 / 0.100", "sft": "0.050", "ar": ""}
    assert "before training" not in paper_table(aggregate(best, best))
