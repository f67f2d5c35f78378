"""The live progress lines: the evaluation before training has no loss or pace, later ones
carry the trial's and the whole sweep's time left."""

from __future__ import annotations

from types import SimpleNamespace

from platform.progress import CompactProgress


def trial(trial_id: str, status: str = "RUNNING", lr: float = 1e-4):
    return SimpleNamespace(trial_id=trial_id, status=status, config={"train.lr": lr}, last_result={})


def test_the_evaluation_before_training_has_no_loss_and_no_eta(capsys):
    progress = CompactProgress(total_trials=2, epochs=100, concurrency=1)
    first = trial("a")
    progress.on_trial_result(0, [first], first, {"epoch": 0, "forward_acc": 0.0, "backward_acc": 0.0, "wall_time": 3.0})
    line = capsys.readouterr().out
    assert "(before training)" in line and "loss" not in line and "eta" not in line


def test_the_sweep_eta_counts_running_and_pending_trials(capsys):
    # 4 trials, 2 at a time; two running at 10 s per epoch of 100: each has 50 epochs (500 s) left
    # and takes 1000 s; the 2 pending ones take 1000 s each over 2 slots: 500 + 1000 = 1500 s
    progress = CompactProgress(total_trials=4, epochs=100, concurrency=2)
    a, b = trial("a"), trial("b", lr=3e-4)
    for running in (a, b):
        progress.on_trial_result(
            0, [a, b], running, {"epoch": 50, "forward_acc": 0.5, "backward_acc": 0.1, "loss": 1.0, "wall_time": 500.0}
        )
    line = capsys.readouterr().out.splitlines()[-1]
    assert "trial eta 8m20s" in line and "sweep eta 25m00s" in line, line
    # the last trial: only its own time is left
    a.status, b.status = "TERMINATED", "TERMINATED"
    c, d = trial("c", "TERMINATED"), trial("d")
    progress.on_trial_result(
        0, [a, b, c, d], d, {"epoch": 90, "forward_acc": 0.5, "backward_acc": 0.1, "loss": 1.0, "wall_time": 900.0}
    )
    assert "sweep eta 100s" in capsys.readouterr().out


def test_a_math_trial_shows_exact_match_not_a_backward_nan(capsys):
    progress = CompactProgress(total_trials=1, epochs=30, concurrency=1)
    first = trial("m")
    progress.on_trial_result(
        0,
        [first],
        first,
        {"epoch": 5, "forward_acc": 0.12, "backward_acc": float("nan"), "wall_time": 3.0, "loss": 1.2},
    )
    line = capsys.readouterr().out
    assert "exact match 0.12" in line and "nan" not in line
    progress.on_trial_result(
        0, [first], first, {"epoch": 10, "forward_acc": 0.5, "backward_acc": 0.25, "wall_time": 6.0, "loss": 1.0}
    )
    assert "forward 0.50  backward 0.25" in capsys.readouterr().out


def test_a_retried_failure_gets_a_line_that_says_why(capsys, tmp_path):
    (tmp_path / "error.txt").write_text(
        "Failure # 1\nTraceback (most recent call last):\n  File ...\nOSError: [Errno 28] No space left on device\n"
    )
    progress = CompactProgress(total_trials=2, epochs=4, concurrency=1)
    failed = trial("a")
    failed.local_path, failed.max_failures = str(tmp_path), 2
    failed.run_metadata = SimpleNamespace(num_failures=1)
    progress.on_trial_recover(0, [failed], failed)
    line = capsys.readouterr().out.strip()
    assert line.startswith("[sweep] retry  a ") and "after failure 1 of 3 allowed" in line, line
    assert "OSError: [Errno 28] No space left on device" in line and f"{tmp_path}/error.txt" in line
