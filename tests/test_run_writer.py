"""A trial's MLflow writer process (``platform.run_writer``) on a real sqlite store: its calls
land in order, a failed write fails the trial and leaves nothing behind for the next trial, a
writer whose trial process was killed still writes what it received, and a trial's restart
waits for the dead attempt's writer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from platform import tracking
from platform.run_writer import RunWriter, TrialLock, WriterGone
from tests.conftest import REPO

PREDICTION = {
    "question": "q",
    "reference": "a",
    "answer": "a",
    "score": 1.0,
    "group": "g",
    "task": "t",
    "direction": "forward",
}


@pytest.fixture
def store(tmp_path):
    store = tracking.Tracking(f"sqlite:///{tmp_path / 'mlflow.db'}", retry_seconds=5)
    experiment = store.check_reachable("writer")
    parent = store.start_sweep_run(experiment, "sw", "sw", {"a": 1})
    return store, experiment, parent


@pytest.fixture
def writer(store):
    writer = RunWriter(store[0])
    yield writer
    writer.stop()


def epochs(writer: RunWriter, numbers, **extra) -> None:
    for epoch in numbers:
        writer.log_epoch({"forward_acc": epoch / 10, "selection_acc": epoch / 10, **extra}, epoch, [PREDICTION])


def test_calls_reach_the_store_in_order_and_the_run_ends_when_the_trial_says(store, writer):
    tracking_store, experiment, parent = store
    writer.start_trial_run(experiment, parent, "sw/t1", "t1", {"lr": 0.1}, {"objective": "ar"})
    writer.log_text("plan", "strategy.txt")
    writer.open_logger()
    epochs(writer, (1, 2, 3))
    writer.set_stop_reason("completed")
    writer.close()
    writer.end_run("FINISHED")

    client = tracking_store.client()
    run = client.get_run(writer.run_id())
    assert run.info.status == "FINISHED" and run.data.tags["stop_reason"] == "completed"
    assert run.data.params == {"lr": "0.1"} and run.data.tags["objective"] == "ar"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "forward_acc")] == [
        (1, 0.1),
        (2, 0.2),
        (3, 0.3),
    ]
    assert any(key.startswith("system/") for key in run.data.metrics)  # sampled in the writer, on close
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"strategy.txt", "resolved_spec.yaml", tracking.PREDICTIONS_FILE} <= artifacts
    best = client.download_artifacts(run.info.run_id, tracking.PREDICTIONS_FILE)
    with open(best, encoding="utf-8") as file:
        assert json.loads(file.readline())["epoch"] == 3
    assert writer.queued == 0


def test_a_failed_write_fails_the_trial_and_the_next_trial_starts_clean(store, writer):
    tracking_store, experiment, parent = store
    writer.start_trial_run(experiment, parent, "sw/t1", "t1", {"lr": 0.1}, {})
    writer.open_logger()
    epochs(writer, (1,), **{"bad?name": 1.0})  # MLflow refuses the metric's name
    with pytest.raises(Exception, match="bad\\?name"):
        epochs(writer, (2,))  # the writer answers for epoch 1 first: its error is raised here
    writer.close()  # the trial's loop closes its logger on the way out
    writer.end_run("FAILED", "refused metric")
    first = writer.run_id()

    writer.start_trial_run(experiment, parent, "sw/t2", "t2", {"lr": 0.2}, {})
    writer.open_logger()
    epochs(writer, (1, 2))
    writer.close()
    writer.end_run("FINISHED")
    second = writer.run_id()
    client = tracking_store.client()
    failed = client.get_run(first)
    assert failed.info.status == "FAILED" and failed.data.tags["error"] == "refused metric"
    assert client.get_run(second).info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(second, "forward_acc")] == [1, 2]


def test_a_writer_whose_trial_process_was_killed_writes_what_it_received(store, tmp_path):
    """The trial process sends three epochs and SIGKILLs itself, never closing its run."""
    tracking_store, experiment, parent = store
    script = f"""
import os, signal, sys
from platform import tracking
from platform.run_writer import RunWriter
writer = RunWriter(tracking.Tracking({tracking_store.uri!r}, retry_seconds=5))
writer.start_trial_run({experiment!r}, {parent!r}, "sw/killed", "killed", {{"lr": 0.1}}, {{}})
writer.open_logger()
for epoch in (1, 2, 3):
    writer.log_epoch({{"forward_acc": epoch / 10, "selection_acc": epoch / 10}}, epoch, [])
writer.set_stop_reason("sent, never answered")  # the writer answers after this process is gone
writer.log_text("sent last", "last.txt")
print(writer.process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    trial = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert trial.returncode == -signal.SIGKILL, trial.stderr[-2000:]
    writer_pid = int(trial.stdout.split()[0])
    deadline = time.monotonic() + 60
    while os.path.exists(f"/proc/{writer_pid}") and "Z" not in _state(writer_pid):
        assert time.monotonic() < deadline, "the writer outlived its trial by a minute"
        time.sleep(0.1)
    client = tracking_store.client()
    run_id = tracking_store.find_run(experiment, "trial_key", "sw/killed")
    assert [m.step for m in client.get_metric_history(run_id, "forward_acc")] == [1, 2, 3]
    run = client.get_run(run_id)
    assert run.data.tags.get("stop_reason") == "sent, never answered"
    assert "last.txt" in {a.path for a in client.list_artifacts(run_id)}
    assert run.info.status == "RUNNING"  # ended by whoever resumes or closes the sweep


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            return file.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "Z"


def test_a_restarted_trial_waits_for_the_dead_attempts_writer(store, writer):
    """The dead attempt's writer holds the trial's lock until it has written what it received;
    the restart's writer looks for the run only after that (here the test holds the lock)."""
    _, experiment, parent = store
    writer.start_trial_run(experiment, parent, "sw/t0", "t0", {"lr": 0.1}, {})
    assert writer.run_id()  # MLflow imported, the store open: the next start takes a moment
    held = TrialLock()
    held.hold("sw/t1")
    writer.start_trial_run(experiment, parent, "sw/t1", "t1", {"lr": 0.1}, {})
    answered = threading.Event()
    threading.Thread(target=lambda: (writer.run_id(), answered.set()), daemon=True).start()
    assert not answered.wait(1.5), "the writer started the run while another writer held the trial's lock"
    held.release()
    assert answered.wait(60)


def test_a_dead_writer_fails_the_next_call_and_the_process_gets_a_new_one(store):
    tracking_store, experiment, parent = store
    first = RunWriter.for_process(tracking_store)
    assert RunWriter.for_process(tracking_store) is first
    first.process.kill()
    first.process.wait()
    with pytest.raises(WriterGone, match="exited"):
        first.run_id()
    second = RunWriter.for_process(tracking_store)
    try:
        assert second is not first
        second.start_trial_run(experiment, parent, "sw/t3", "t3", {"lr": 0.1}, {})
        assert second.run_id()
    finally:
        second.stop()
        RunWriter._of_process = None
