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
