"""``python -m platform.report SWEEP_OR_EXPERIMENT``: the paper-style comparison of a sweep.

Reads the trials' MLflow runs (the store the spec or ``MLFLOW_TRACKING_URI`` names, else the
default local one), picks each trial's best evaluated epoch by the mean of forward and
backward accuracy (as the paper does: ``platform.selection``), groups trials that differ only
in their seed, and writes a table (mean +- std over seeds, n) as Markdown and CSV plus figures as PNG:
accuracy vs epoch per objective (the paper's training-dynamics figure), accuracy vs learning
rate, and accuracy vs fixed mask ratio when the sweep varied them. Everything is also logged
to the sweep's parent run.

    python -m platform.report lr-8c4bb22f            # a sweep id (printed by the sweep)
    python -m platform.report lr                     # an MLflow experiment: all its trials
    python -m platform.report lr --out reports/lr --tracking-uri sqlite:///path/mlflow.db
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from platform.cli import main_guard
from platform.errors import UserError
from platform.paths import state_dir
from platform.results import markdown
from platform.selection import best_epochs
from platform.tracking import Tracking, tracking_uri

SEED = "train.seed"
IGNORED_PARAMS = {SEED, "name", "data.paraphrases", "objective.paraphrases"}
"""Not table columns: the seed is aggregated over; the paraphrase settings are shown once, as
the trial's effective ``paraphrases`` tag (the objective's option, else the data's)."""


def trial_runs(tracking: Tracking, target: str) -> tuple[list, str | None, str]:
    """(trial runs, parent run id or None, experiment id) for a sweep id or experiment name."""
    client = tracking.client()
    experiments = client.search_experiments()
    for experiment in experiments:
        parents = client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.sweep_id = '{target}' and tags.kind = 'sweep'"
        )
        if parents:
            parent = parents[0].info.run_id
            runs = client.search_runs(
                [experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'"
            )
            return runs, parent, experiment.experiment_id
    experiment = client.get_experiment_by_name(target)
    if experiment is None:
        names = ", ".join(sorted(e.name for e in experiments)) or "none"
        raise UserError(f"no sweep id or MLflow experiment named {target!r} in {tracking.shown} (experiments: {names})")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.kind = 'trial'")
    return runs, None, experiment.experiment_id


def histories(tracking: Tracking, runs: list) -> pd.DataFrame:
    """One row per (trial, evaluated epoch) with its accuracies and params."""
    client = tracking.client()
    rows = []
    for run in runs:
        per_epoch: dict[int, dict[str, float]] = {}
        for metric in ("forward_acc", "backward_acc", "mean_acc", "selection_acc", "retention_mean_acc"):
            for point in client.get_metric_history(run.info.run_id, metric):
                per_epoch.setdefault(point.step, {})[metric] = point.value
        for epoch, values in per_epoch.items():
            rows.append(
                {
                    "run_id": run.info.run_id,
                    "status": run.info.status,
                    "epoch": epoch,
                    **values,
                    **run.data.params,
                    "paraphrases": run.data.tags.get("paraphrases", ""),
                }
            )
    if not rows:
        raise UserError("the selected runs have no evaluated epochs yet")
    frame = pd.DataFrame(rows)
    for metric in ("forward_acc", "backward_acc", "mean_acc"):  # math runs have no backward
        if metric not in frame:
            frame[metric] = float("nan")
    return frame


def varied_params(best: pd.DataFrame) -> list[str]:
    """Spec fields whose values differ between trials (the sweep's axes), seed excluded."""
    params = [c for c in best.columns if "." in c and c not in IGNORED_PARAMS]
    varied = [c for c in params if best[c].nunique(dropna=False) > 1]
    return sorted({"objective.name", "paraphrases", *varied}, key=lambda c: (c != "objective.name", c))


def aggregate(best: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean +- std over seeds of every group of trials that differ only in their seed; with
    ``history``, also the test accuracy before training (epoch 0) where trials evaluated it:
    the base model's own score, which a fine-tuning objective has to beat."""
    keys = varied_params(best)
    best = _numeric_keys(best, keys)
    grouped = best.groupby(keys, dropna=False)
    table = grouped.agg(
        forward_mean=("forward_acc", "mean"),
        forward_std=("forward_acc", "std"),
        backward_mean=("backward_acc", "mean"),
        backward_std=("backward_acc", "std"),
        best_epoch=("epoch", "median"),
        n=("run_id", "count"),
    ).reset_index()
    table = table.fillna({"forward_std": 0.0, "backward_std": 0.0})
    start = None if history is None else history[(history["epoch"] == 0) & history["run_id"].isin(best["run_id"])]
    if start is None or start.empty:
        return table
    before = _numeric_keys(start, keys).groupby(keys, dropna=False)
    before = before.agg(before_forward=("forward_acc", "mean"), before_backward=("backward_acc", "mean"))
    return table.merge(before.reset_index(), on=keys, how="left")


def _numeric_keys(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """MLflow params are strings: key columns that are all numbers sort and print as numbers."""
    frame = frame.copy()
    for key in keys:
        numeric = pd.to_numeric(frame[key], errors="coerce")
        if numeric.notna().all():
            frame[key] = numeric
    return frame


def paper_table(table: pd.DataFrame) -> pd.DataFrame:
    """The readable form: ``forward`` and ``backward`` as mean +- std (just the value when n is
    1; a dash where a task has no such direction, as math), with n; unset params left blank."""
    before = ["before_forward", "before_backward"] if "before_forward" in table else []
    shown = table.drop(columns=["forward_mean", "forward_std", "backward_mean", "backward_std", *before]).copy()
    for column in shown.columns[:-2]:
        shown[column] = shown[column].astype(object).where(shown[column].notna(), "")

    def cell(mean: float, std: float, n: int) -> str:
        if pd.isna(mean):
            return "—"
        return f"{mean:.3f}" if n == 1 else f"{mean:.3f} ± {std:.3f}"

    for name in ("forward", "backward"):
        values = [cell(m, s, n) for m, s, n in zip(table[f"{name}_mean"], table[f"{name}_std"], table.n, strict=True)]
        shown.insert(len(shown.columns) - 2, name, values)
    if before:
        values = [_before(f, b) for f, b in zip(table.before_forward, table.before_backward, strict=True)]
        shown.insert(len(shown.columns) - 2, "before training", values)
    return shown


def _before(forward: float, backward: float) -> str:
    """The epoch-0 accuracy: forward / backward, forward alone for math, blank if not evaluated."""
    if pd.isna(forward):
        return ""
    return f"{forward:.3f}" if pd.isna(backward) else f"{forward:.3f} / {backward:.3f}"


def figures(history: pd.DataFrame, best: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for (objective, paraphrases), group in history.groupby(["objective.name", "paraphrases"]):
        curve = group.groupby("epoch")[["forward_acc", "backward_acc"]].mean()
        label = objective if paraphrases in ("", "none") else f"{objective} ({paraphrases})"
        axes[0].plot(curve.index, curve["forward_acc"], marker=".", label=label)
        axes[1].plot(curve.index, curve["backward_acc"], marker=".", label=label)
    for ax, title in zip(axes, ("forward", "backward"), strict=True):
        ax.set(
            title=f"{title} accuracy (mean over trials)", xlabel="epoch", ylabel="ROUGE-1 recall (math: exact match)"
        )
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    written.append(_save(fig, out / "accuracy_vs_epoch.png"))
    for param, name, log in (
        ("train.lr", "accuracy_vs_lr.png", True),
        ("objective.mask_ratio.value", "accuracy_vs_mask_ratio.png", False),
    ):
        if param in best and best[param].nunique() > 1:
            fig, ax = plt.subplots(figsize=(6, 4))
            for objective, group in best.groupby("objective.name"):
                x = group[param].astype(float)
                ax.scatter(x, group["forward_acc"], marker="o", label=f"{objective} forward")
                ax.scatter(x, group["backward_acc"], marker="x", label=f"{objective} backward")
            ax.set(xlabel=param, ylabel="best-epoch accuracy", xscale="log" if log else "linear")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            written.append(_save(fig, out / name))
    plt.close("all")
    return written


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def selected_on(runs: list) -> str:
    """Which questions picked the best epochs (the report says so, as the spec chose)."""
    kinds = {r.data.params.get("eval.select_on", "test") for r in runs}
    return "validation" if kinds == {"validation"} else "test" if kinds == {"test"} else "test or validation"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m platform.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="a sweep id (e.g. lr-8c4bb22f) or an MLflow experiment name")
    parser.add_argument(
        "--tracking-uri", default=None, help="MLflow store (default: MLFLOW_TRACKING_URI or the local one)"
    )
    parser.add_argument("--out", default=None, help="output directory (default: <state dir>/reports/<target>)")
    return parser.parse_args(argv)


def build_report(tracking: Tracking, target: str, out: Path) -> list[Path]:
    """Write the report of ``target`` into ``out`` and attach it to the sweep's run; its files."""
    runs, parent, _ = trial_runs(tracking, target)
    if not runs:
        raise UserError(f"{target!r} has no trial runs yet")
    history = histories(tracking, runs)
    best = best_epochs(history)
    table = aggregate(best, history)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(
        f"# {target}\n\nBest evaluated epoch per trial by mean(forward, backward) on the {selected_on(runs)} "
        f"questions; mean ± std over seeds ({len(runs)} trials)"
        + ("; before training: the test accuracy at epoch 0, the base model's" if "before_forward" in table else "")
        + f".\n\n{markdown(paper_table(table))}\n"
    )
    table.to_csv(out / "report.csv", index=False)
    best.to_csv(out / "best_epochs.csv", index=False)
    written = [out / "report.md", out / "report.csv", *figures(history, best, out)]
    if parent:
        client = tracking.client()
        for path in written:
            client.log_artifact(parent, str(path), "report")
    return written


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tracking = Tracking(tracking_uri(args.tracking_uri))
    out = Path(args.out) if args.out else state_dir() / "reports" / args.target
    written = build_report(tracking, args.target, out)
    print((out / "report.md").read_text().split("\n\n", 2)[-1].rstrip())
    print(f"\nReport: {out / 'report.md'}; figures: {', '.join(p.name for p in written if p.suffix == '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main_guard(main)(sys.argv[1:]))
