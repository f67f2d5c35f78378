"""A trial's MLflow writes, made by a process of their own beside the trial's process.

Why a second process: importing MLflow and opening its store takes about a second of one
core, and each evaluated epoch's write 10-20 ms more (a sqlite store, the tiny model). Made
in the trial's process, the first lay on the path to its first training step and the writes
inside its training time: about 1.2 s to the first step and 3 s of a 10-second trial that
evaluates every epoch (benchmarks/FINDINGS.md, section 11). The writer process does them on
another core while the trial imports torch and trains. It runs on the trial's own machine,
so MLflow's system metrics (CPU, memory, GPUs) still describe the machine that trained.

The trial sends its calls in order over a pipe and waits only where it needs an answer: a
worker group's run id (its rank 0 logs into the run its trial process started), and the end
of a run (everything written, or the error that stopped it). A write that fails in the writer
fails the trial at its next call, as it did when the trial wrote itself; an unreachable store
queues the writes there (``tracking.TrialLogger``). One writer serves every trial a reused
trial process runs, so MLflow is imported once per process, as before.

If the trial's process dies (a crash, a SIGKILL), the writer still sends what it received, then
exits: its pipe closes. It runs in a session of its own for that, out of reach of Ray's clean-up
of a dead worker's process group (a sweep's watchdog still ends it with the sweep). Until then
it holds its trial's lock, which the writer of the trial's restart takes before it looks for the
run: the restart continues the run the dead attempt's writer finished, and does not create a
second one beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection
from typing import Any, ClassVar

from platform import REPO_ROOT
from platform.tracking import Tracking, TrialLogger


class WriterGone(RuntimeError):
    """The writer process exited before answering (killed, out of memory)."""


class RunWriter:
    """The trial's side: MLflow calls for one run at a time, sent to this process's writer."""

    _of_process: ClassVar[RunWriter | None] = None

    @classmethod
    def for_process(cls, tracking: Tracking) -> RunWriter:
        """This process's writer for ``tracking``'s store, started on first use (and again
        if it died, or the store differs: a test process runs sweeps on many stores)."""
        current = cls._of_process
        if current is None or current.tracking != tracking or current.process.poll() is not None:
            if current is not None:
                current.stop()
            cls._of_process = current = cls(tracking)
        return current

    def __init__(self, tracking: Tracking) -> None:
        self.tracking = tracking
        command_read, command_write = os.pipe()
        reply_read, reply_write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "platform.run_writer", str(command_read), str(reply_write)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            pass_fds=(command_read, reply_write),
            start_new_session=True,
        )
        os.close(command_read)
        os.close(reply_write)
        self.commands = Connection(command_write, readable=False)
        self.replies = Connection(reply_read, writable=False)
        self.queued = 0
        """Writes the writer holds back while the store is unreachable (its last word on it)."""
        self.unanswered = 0
        """Calls sent that the writer has not answered yet (``_answers`` reads them)."""
        self.commands.send(tracking)

    def start_trial_run(
        self,
        experiment_id: str,
        parent_id: str,
        trial_key: str,
        name: str,
        spec_dump: dict[str, Any],
        tags: dict[str, str],
        resume_after: int | None = None,
    ) -> None:
        """``Tracking.start_trial_run`` in the writer; the run it creates (or reuses) is the
        current one for the calls that follow. Does not wait: ``run_id`` does."""
        self._call("start", trial_key, (experiment_id, parent_id, trial_key, name, spec_dump, tags, resume_after))

    def run_id(self) -> str:
        """The current run's id, once the writer has it (and every call before succeeded)."""
        self._call("run_id")
        return self._answers()

    def log_text(self, text: str, name: str) -> None:
        self._call("log_text", text, name)

    def open_logger(self, run_id: str | None = None) -> RunWriter:
        """Log epochs into ``run_id`` (None: the run this process started), and start MLflow's
        system metrics on it: what a trial's rank 0 does before training."""
        self.queued = 0  # the last trial's outage is not this one's
        self._call("open_logger", run_id)
        return self

    def log_epoch(self, metrics: dict[str, float], epoch: int, predictions: list[dict[str, Any]]) -> None:
        """Send this epoch's metrics once the writer has answered every call before: its writes
        overlap the next epoch's training and lag by one epoch at most, so a store that stopped
        answering shows in the next result (``queued``) while training goes on, and a write that
        failed fails the trial one epoch later."""
        self._answers()
        self._call("log_epoch", metrics, epoch, predictions)

    def restore_best(self, selection: float, best: dict[str, float]) -> None:
        self._call("restore_best", selection, best)

    def set_stop_reason(self, reason: str) -> None:
        self._call("set_stop_reason", reason)

    def close(self) -> None:
        """Every write of the run made (waiting out an outage as ``TrialLogger.close`` does),
        or the first error that stopped them raised here."""
        self._call("close")
        self._answers()

    def end_run(self, status: str, error: str | None = None) -> None:
        """``Tracking.end_run`` on the current run, after everything sent before it. Only its own
        error is raised: the run is ending, whatever happened to the writes before."""
        self._call("end_run", status, error)
        self._answers(own_only=True)

    def stop(self) -> None:
        """End the writer (once it has sent what it was sent, trying an unreachable store once)
        and release its pipes."""
        with contextlib.suppress(OSError):
            self.commands.send(("exit",))
        self.commands.close()
        self.replies.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)

    def _call(self, *message: Any) -> None:
        try:
            self.commands.send(message)
        except OSError:  # a broken pipe: the writer is gone
            raise self._gone() from None
        self.unanswered += 1

    def _answers(self, own_only: bool = False) -> Any:
        """Read the answer to every call sent so far (the writer answers each once, in order),
        so none is left to be taken for a later call's; raise the first error among them (or,
        ``own_only``, the last call's). Returns the last call's value."""
        errors, value = [], None
        while self.unanswered:
            try:
                name, value = self.replies.recv()
            except (EOFError, OSError):
                raise self._gone() from None
            self.unanswered -= 1
            if isinstance(value, BaseException):
                errors.append(value)
            elif name == "log_epoch":
                self.queued = value
        if own_only:
            errors = [value] if isinstance(value, BaseException) else []
        if errors:
            raise errors[0]
        return value

    def _gone(self) -> WriterGone:
        code = self.process.poll()
        return WriterGone(
            f"the trial's MLflow writer process exited ({'code ' + str(code) if code is not None else 'pipe closed'})"
        )


class _Writer:
    """The writer's side: each call of the trial, in order, on the store."""

    def __init__(self, tracking: Tracking, replies: Connection) -> None:
        self.tracking, self.replies = tracking, replies
        self.run: str | None = None
        self.lock = TrialLock()
        self.logger: TrialLogger | None = None
        self.failed = False
        """A call of the current run failed (and the trial was told): its later writes are dropped."""

    def start(self, trial_key: str, args: tuple) -> None:
        self._switch(None)  # a failed start leaves no run: the previous trial's is not this one's
        self.lock.hold(trial_key)
        try:
            self._switch(self.tracking.start_trial_run(*args))
        except BaseException:
            self.lock.release()
            raise

    def run_id(self) -> str | None:
        return self.run

    def log_text(self, text: str, name: str) -> None:
        self.tracking.log_text(self._current(), text, name)

    def open_logger(self, run_id: str | None) -> None:
        if run_id is not None and run_id != self.run:
            self._switch(run_id)
        self.logger = self.tracking.trial_logger(self._current())

    def log_epoch(self, metrics: dict[str, float], epoch: int, predictions: list[dict[str, Any]]) -> int:
        logger = self._logger()
        logger.log_epoch(metrics, epoch, predictions)
        return len(logger.pending)

    def restore_best(self, selection: float, best: dict[str, float]) -> None:
        self._logger().restore_best(selection, best)

    def set_stop_reason(self, reason: str) -> None:
        self._logger().set_stop_reason(reason)

    def close(self) -> None:
        """The run's writes made (``TrialLogger.close``: waiting out an outage); its trial's lock
        released: nothing of the trial is left to write. (A failed run's system metrics stop by
        themselves: MLflow's sampler ends once its run is no longer RUNNING.)"""
        logger, self.logger = self.logger, None
        try:
            if logger is not None and not self.failed:
                logger.close()
        finally:
            self.lock.release()

    def end_run(self, status: str, error: str | None) -> None:
        try:
            self.tracking.end_run(self._current(), status, error)
        finally:
            self.lock.release()

    def serve(self, commands: Connection) -> None:
        """Until the trial's process says exit, or is gone (its pipe closed). Every call is
        answered once, in order: its value, or its error. After an error the run's later
        writes are skipped (the trial is failing); ``close`` and ``end_run`` still run."""
        while True:
            try:
                name, *args = commands.recv()
            except (EOFError, OSError):
                self.leave()
                return
            if name == "exit":
                self.leave()
                return
            if self.failed and name in ("log_text", "open_logger", "log_epoch", "restore_best", "set_stop_reason"):
                self._reply((name, None))
                continue
            try:
                self._reply((name, getattr(self, name)(*args)))
            except Exception as error:  # noqa: BLE001 - raised again in the trial, where it counts
                self.failed = True
                self._reply((name, sendable(error)))

    def leave(self) -> None:
        """The trial's process is gone, or ends this writer: send what was received, trying
        the store once (an outage is not waited out)."""
        if self.logger is not None and not self.failed:
            with contextlib.suppress(Exception):
                self.logger.flush()

    def _reply(self, message: tuple[str, Any]) -> None:
        """Answer the trial; once its process is gone (the pipe broken) its calls still run."""
        with contextlib.suppress(OSError):
            self.replies.send(message)

    def _switch(self, run_id: str | None) -> None:
        self.run, self.logger, self.failed = run_id, None, False

    def _current(self) -> str:
        if self.run is None:
            raise RuntimeError("no MLflow run: start_trial_run or open_logger(run_id) comes first")
        return self.run

    def _logger(self) -> TrialLogger:
        if self.logger is None:
            raise RuntimeError("no trial logger: open_logger comes first")
        return self.logger


class TrialLock:
    """One trial's lock among this machine's writers, from its run's start to its close: a byte
    of one shared file, at an offset hashed from the trial's key (62 bits: two running trials
    sharing one is not a worry). A POSIX lock, so the kernel releases it when its process
    ends, however it ends; no file per trial is left. Per machine: a restart on another node
    does not wait (it starts seconds later, a new process importing torch, in practice after
    the dead attempt's writer is done)."""

    PATH = os.path.join(tempfile.gettempdir(), f"kip-run-writers-{os.getuid()}.lock")
    OFFSETS = 1 << 62
    """Byte offsets to hash keys onto: ``lockf`` takes any, and a file this sparse has no bytes."""

    def __init__(self) -> None:
        self.file = open(self.PATH, "ab")  # noqa: SIM115 - held for the writer's life
        self.offset: int | None = None

    def hold(self, key: str) -> None:
        self.release()
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        self.offset = int.from_bytes(digest, "big") % self.OFFSETS
        fcntl.lockf(self.file, fcntl.LOCK_EX, 1, self.offset)

    def release(self) -> None:
        if self.offset is not None:
            fcntl.lockf(self.file, fcntl.LOCK_UN, 1, self.offset)
            self.offset = None


def sendable(error: Exception) -> Exception:
    """``error`` itself if it survives pickling (the trial raises the same type), else its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - some exception types take other arguments than they store
        return RuntimeError(f"{type(error).__name__}: {error}")


def main() -> None:
    """``python -m platform.run_writer COMMAND_FD REPLY_FD``: started by ``RunWriter``."""
    # in a session of its own, a terminal's Ctrl-C does not reach this process; nor does a
    # SIGINT sent to it: it ends when its trial says so or is gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    commands = Connection(int(sys.argv[1]), writable=False)
    replies = Connection(int(sys.argv[2]), readable=False)
    import mlflow.tracking  # noqa: F401 - now, while the trial imports torch: its first call is soon

    _Writer(commands.recv(), replies).serve(commands)


if __name__ == "__main__":
    main()
