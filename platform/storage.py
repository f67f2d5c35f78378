"""The sweep's results and checkpoint directory: checked before work, and owned by one driver.

Why check first: a read-only or nearly full disk otherwise surfaces as an ``OSError`` inside
a Ray Train worker after the base model is built and trials have started, and every trial
then fails the same way. Why a lock: two drivers started with the same spec compute the same
sweep id and would write the same Tune experiment folder and MLflow runs.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platform.errors import UserError
from platform.spec import ExperimentSpec

CHECKPOINT_COPIES = 3
"""Weights plus AdamW's two moments: a checkpoint is about three times the fp32 weights."""


def check_storage(storage: Path, spec: ExperimentSpec, trials: int, params: float | None) -> None:
    """Refuse to start if ``storage`` is not writable, or too small for the sweep's checkpoints.

    Runs before the base model is built or Ray starts. The size is an estimate (fp32 weights
    and AdamW moments per kept checkpoint) from ``params``; models of unknown size skip it.
    """
    where = "--storage (default: $KIP_HOME/results)"
    try:
        storage.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=storage, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise UserError(f"cannot write to {storage}: {error.strerror or error}", where=where) from None
    if not spec.checkpoint.enabled or not params:
        return
    needed = int(params) * 4 * CHECKPOINT_COPIES * (spec.checkpoint.keep + 1) * trials
    free = shutil.disk_usage(storage).free
    if needed > free:
        raise UserError(
            f"{storage} has {free / 2**20:,.0f} MiB free but this sweep's checkpoints need about "
            f"{needed / 2**20:,.0f} MiB "
            f"({trials} trials x up to {spec.checkpoint.keep + 1} checkpoints x {CHECKPOINT_COPIES} x the weights); "
            "free space, lower checkpoint.keep, set checkpoint.enabled: false, or pass --storage",
            where=where,
        )


@contextmanager
def sweep_lock(path: Path) -> Iterator[None]:
    """Hold the lock file ``path`` while this driver runs the sweep; refuse a second driver.

    The file lives outside the Tune experiment folder, which Tune may rewrite.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            owner = lock.read().strip() or "another process"
            raise UserError(
                f"this sweep is already running ({owner}); wait for it, or change the spec's name to run a copy",
                where=path.name,
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"driver pid {os.getpid()} on {os.uname().nodename}")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)


def out_of_space(storage: Path, error: BaseException) -> bool:
    """Did ``error`` come from a full ``storage`` (ENOSPC in its chain, or no space left now)?"""
    seen: BaseException | None = error
    while seen is not None:
        if (isinstance(seen, OSError) and seen.errno == errno.ENOSPC) or "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(storage).free < 2**20
    except OSError:
        return False


def check_resumable(experiment: Path) -> None:
    """Refuse to resume from Tune state that a crash or a full disk left empty or unreadable."""
    for path in sorted(experiment.glob("*.json")) + sorted(experiment.glob("*.pkl")):
        try:
            if path.name.startswith("experiment_state-"):  # JSON; the others are pickles
                json.loads(path.read_text(encoding="utf-8"))
            elif path.stat().st_size == 0:
                raise ValueError("empty file")
        except (OSError, ValueError) as error:
            raise UserError(
                f"the sweep's saved state is damaged ({path.name}: {error}; was the disk full?). Its finished "
                "trials stay in MLflow and their results in this folder; run the command again with --fresh to "
                "start over",
                where=str(experiment),
            ) from None
