"""Unit tests of the review's edge cases: Ctrl-C before Tune is ready, a tokenizer without a
chat template, and the sweep's summary ranked by selection (validation) accuracy."""

from __future__ import annotations

import copy
import os
import signal

import pandas as pd
import pytest

from platform.chat import ChatFormat
from platform.errors import UserError
from platform.interrupts import GracefulInterrupt
from platform.results import COLUMNS, ResultsTable, summary_metrics
from tests.helpers import tiny_context


def test_ctrl_c_before_tune_listens_quits_at_once_instead_of_killing_the_process():
    previous = signal.signal(signal.SIGUSR1, signal.SIG_DFL)  # as before Tune's run loop starts
    try:
        with pytest.raises(KeyboardInterrupt), GracefulInterrupt() as interrupt:
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs before kill returns
        assert not interrupt.requested
        assert "TUNE_DISABLE_SIGINT_HANDLER" not in os.environ
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_ctrl_c_once_tune_listens_is_recorded_and_forwarded():
    forwarded = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: forwarded.append(True))  # Tune's graceful stop
    try:
        with GracefulInterrupt() as interrupt:
            os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.requested and interrupt.requested_at and forwarded == [True]
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_tokenizer_without_a_chat_template_is_a_clear_error():
    tokenizer = copy.deepcopy(tiny_context().tokenizer)
    tokenizer.chat_template = None
    with pytest.raises(UserError, match="model.path: the tokenizer's chat template cannot render"):
        ChatFormat.from_tokenizer(tokenizer)


def test_the_sweeps_summary_ranks_trials_by_selection_accuracy_not_test_accuracy():
    rows = [  # trial b is better on the test questions, a on the validation ones that select
        {
            "trial": "a",
            "objective": "masked_ar",
            "lr": 1e-4,
            "forward_acc": 0.5,
            "backward_acc": 0.5,
            "mean_acc": 0.5,
            "selection_acc": 0.9,
            "best_epoch": 10,
            "status": "ok",
        },
        {
            "trial": "b",
            "objective": "masked_ar",
            "lr": 3e-4,
            "forward_acc": 0.9,
            "backward_acc": 0.9,
            "mean_acc": 0.9,
            "selection_acc": 0.4,
            "best_epoch": 20,
            "status": "ok",
        },
        {
            "trial": "c",
            "objective": "ar",
            "lr": 1e-4,
            "forward_acc": 0.9,
            "backward_acc": 0.0,
            "mean_acc": 0.45,
            "selection_acc": 0.95,
            "best_epoch": 5,
            "status": "interrupted",
        },
    ]
    summary = summary_metrics(ResultsTable(pd.DataFrame(rows, columns=[*COLUMNS, "selection_acc"])))
    assert summary["masked_ar.lr"] == 1e-4 and summary["masked_ar.backward_acc"] == 0.5
    assert "ar.backward_acc" not in summary  # an interrupted trial answers nothing yet
    assert summary["best_mean_acc"] == 0.5 and summary["best_epoch"] == 10
