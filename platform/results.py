"""The sweep's results table: one row per trial, its best epoch chosen as in the paper.

Model selection: the evaluated epoch with the best mean of forward and backward accuracy
on the questions the spec selects on (docs/method.md), not the last one; the rule and its
fallback for older runs live in ``platform.selection``, shared with the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from platform.run_names import trial_name
from platform.selection import best_epoch, selection_column

COLUMNS = [
    "trial",
    "objective",
    "settings",
    "lr",
    "seed",
    "forward_acc",
    "backward_acc",
    "mean_acc",
    "best_epoch",
    "wall_time_s",
    "status",
]


@dataclass
class ResultsTable:
    frame: pd.DataFrame

    def to_markdown(self) -> str:
        return markdown(self.frame[COLUMNS])


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub-style table without extra dependencies."""

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.2e}" if 0 < abs(value) < 1e-2 else f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"
        return str(value)

    rows = [[cell(v) for v in row] for row in frame.itertuples(index=False)]
    header = list(frame.columns)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)])


SHOWN = {"objective.name", "train.lr", "train.seed"}


def results_table(results, spec, interrupted: set[str] | frozenset[str] = frozenset()) -> ResultsTable:
    """From a Tune ResultGrid: one row per trial, sorted by objective then learning rate.

    Values a trial did not vary come from the sweep's spec; ``interrupted`` are the trial ids
    a Ctrl-C stopped mid-way (their best epoch so far is shown, status ``interrupted``).
    """
    defaults = {"objective.name": spec.objective.name, "train.lr": spec.train.lr, "train.seed": spec.train.seed}
    # Tune's own trial states (finished before an interruption, or not): by trial directory name
    trials = getattr(getattr(results, "_experiment_analysis", None), "trials", None) or []
    status = {t.trial_id: "ok" if t.status == "TERMINATED" else "incomplete" for t in trials}
    rows = []
    for result in results:
        config = {**defaults, **(result.config or {})}
        history = result.metrics_dataframe
        best = best_epoch(history)
        rows.append(
            {
                "trial": Path(result.path).name,
                "objective": config["objective.name"],
                "settings": trial_name({k: v for k, v in config.items() if k not in SHOWN})
                if set(config) - SHOWN
                else "",
                "lr": config["train.lr"],
                "seed": config["train.seed"],
                "forward_acc": float(best.get("forward_acc", float("nan"))) if best is not None else float("nan"),
                "backward_acc": float(best.get("backward_acc", float("nan"))) if best is not None else float("nan"),
                "mean_acc": float(best.get("mean_acc", float("nan"))) if best is not None else float("nan"),
                "selection_acc": float(best[selection_column(history)]) if best is not None else float("nan"),
                "best_epoch": int(best["epoch"]) if best is not None else -1,
                "wall_time_s": float(history["wall_time"].max())
                if history is not None and "wall_time" in history
                else float("nan"),
                "status": "interrupted"
                if Path(result.path).name in interrupted
                else "error"
                if result.error
                else status.get(Path(result.path).name, "ok"),
            }
        )
    frame = (
        pd.DataFrame(rows, columns=[*COLUMNS, "selection_acc"])
        .sort_values(["objective", "lr"], kind="stable")
        .reset_index(drop=True)
    )
    return ResultsTable(frame)


def summary_metrics(table: ResultsTable) -> dict[str, float]:
    """The sweep's answer as metrics of its parent run: per objective, the best trial's forward,
    backward and mean accuracy and its lr; and the best overall as ``best_*`` (the names trial
    runs use, so one UI column shows both). Trials are ranked by the selection accuracy at their
    best epoch (validation questions with ``eval.select_on: validation``), as epochs are: never
    picked on the test questions when a validation set exists. Single trials, not seed means
    (``python -m platform.report`` aggregates seeds)."""
    frame = table.frame[table.frame["status"] == "ok"].dropna(subset=["selection_acc"])
    summary: dict[str, float] = {}
    for objective, rows in frame.groupby("objective"):
        best = rows.loc[rows["selection_acc"].idxmax()]
        for key in ("forward_acc", "backward_acc", "mean_acc", "lr"):
            summary[f"{objective}.{key}"] = float(best[key])
    if not frame.empty:
        best = frame.loc[frame["selection_acc"].idxmax()]
        summary.update({f"best_{key}": float(best[key]) for key in ("forward_acc", "backward_acc", "mean_acc")})
        summary["best_epoch"] = float(best["best_epoch"])
    return summary


def write_results(table: ResultsTable, directory: Path) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": str(directory / "results.md"), "csv": str(directory / "results.csv")}
    Path(paths["markdown"]).write_text(table.to_markdown() + "\n")
    table.frame.to_csv(paths["csv"], index=False)
    return paths
