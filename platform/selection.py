"""The paper's model-selection rule: which evaluated epoch of a trial is its result.

A trial's result is its best evaluated epoch, not its last: the epoch with the highest
*selection accuracy*, the mean of forward and backward accuracy on the questions the spec
selects on (``eval.select_on``: the validation entities' questions, else the test questions).
The worker logs that value as ``selection_acc`` at every evaluated epoch (``platform/worker.py``);
the sweep's results table (``platform/results.py``) and the report (``platform/report.py``)
both pick epochs here, so the two can never disagree about a trial.

Ties: the earliest epoch wins. The worker keeps the first epoch that reached the best value
(it replaces its best only on a strictly higher one), and so do its ``best_*`` MLflow metrics
and the checkpoint it keeps; an epoch that merely matches the best does not replace it here
either.

Fallback, decided per trial: ``selection_acc`` when the trial logged it, else ``mean_acc``.
Runs logged before ``selection_acc`` existed have only ``mean_acc``, which was their selection
value then (selection on the test questions was all there was). Epochs with no value (a
non-finite value is never logged to MLflow) are never picked. The rule is not "``mean_acc``
for every trial as soon as one trial or one epoch lacks ``selection_acc``" (the report's
rule before this module): one older run in an experiment would then have switched every trial, validation-selecting
ones included, to picking epochs on the test questions, which ``select_on: validation`` exists
to prevent.

Only pandas here: this module sits beside the table and the report, below the trial and
the sweep, and imports nothing of theirs (nor Ray or torch).
"""

from __future__ import annotations

from collections.abc import Hashable

import pandas as pd

SELECTION = "selection_acc"
"""What the worker logs as the value epochs are selected on (test or validation mean)."""
LEGACY_SELECTION = "mean_acc"
"""What runs logged before ``selection_acc`` existed were selected on (the test mean)."""
EPOCH = "epoch"


def selection_column(history: pd.DataFrame) -> str | None:
    """The column one trial's epochs are ranked by: ``selection_acc`` if it has any value, else
    ``mean_acc`` (older runs); None when the trial has neither (nothing can be selected)."""
    for column in (SELECTION, LEGACY_SELECTION):
        if column in history and pd.to_numeric(history[column], errors="coerce").notna().any():
            return column
    return None


def best_label(history: pd.DataFrame | None) -> Hashable | None:
    """The index label of one trial's best evaluated epoch (earliest of equals), or None."""
    if history is None or history.empty:
        return None
    column = selection_column(history)
    if column is None:
        return None
    ordered = history.sort_values(EPOCH, kind="stable") if EPOCH in history else history
    return pd.to_numeric(ordered[column], errors="coerce").idxmax()


def best_epoch(history: pd.DataFrame | None) -> pd.Series | None:
    """One trial's best evaluated epoch as a row of ``history`` (one row per evaluated epoch), or None."""
    label = best_label(history)
    return None if label is None else history.loc[label]


def best_epochs(history: pd.DataFrame, trial: str = "run_id") -> pd.DataFrame:
    """Each trial's best evaluated epoch, one row per trial sorted by ``trial``.

    ``history`` holds one row per (trial, evaluated epoch) with a unique index; a trial with
    nothing to select on is left out rather than given an arbitrary epoch.
    """
    labels = [label for _, rows in history.groupby(trial) if (label := best_label(rows)) is not None]
    return history.loc[labels].reset_index(drop=True)
