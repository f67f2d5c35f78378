"""Ctrl-C during a sweep: Tune's graceful stop (state saved, trials resumable), then said so.

Why our own SIGINT handler in front of Tune's: Tune catches the first Ctrl-C itself, stops
the experiment and returns from ``fit()`` as if it had ended, printing only its own
``Tuner.restore(...)`` hint; the driver could not tell an interrupted sweep from a finished
one (exit 0, the interrupted trial listed as ``ok``). This handler records the interrupt and
hands it to Tune through SIGUSR1, which Tune always treats as the same graceful stop; a
second Ctrl-C quits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import time

_TUNE_INTERRUPT_LINES = ("Stop signal received", "Experiment has been interrupted")


class _HideTuneInterruptLines(logging.Filter):
    """Tune's own interrupt messages: replaced by the sweep's (which say how to resume)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_TUNE_INTERRUPT_LINES)


class GracefulInterrupt:
    """``with GracefulInterrupt() as interrupt: tuner.fit()``; then ``interrupt.requested``."""

    def __init__(self) -> None:
        self.requested = False
        self.requested_at: float | None = None
        """When the Ctrl-C came (trials that failed after it died of the stop, not of a bug)."""
        self._previous = None
        self._filter = _HideTuneInterruptLines()

    def __enter__(self) -> GracefulInterrupt:
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours forwards to Tune's SIGUSR1 handler
        self._previous = signal.signal(signal.SIGINT, self._handle)
        logging.getLogger("ray.tune.tune").addFilter(self._filter)
        return self

    def _handle(self, signum, frame) -> None:
        # Before Tune's run loop installs its SIGUSR1 handler (restoring, setting up) the signal
        # would end the process: quit at once there, as a second Ctrl-C does.
        if self.requested or signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
            raise KeyboardInterrupt
        self.requested = True
        self.requested_at = time.time()
        # os.write, not print: a signal handler may interrupt a print to the same stream
        os.write(
            2,
            b"\n[sweep] Ctrl-C: stopping; Tune saves its state and finished trials are kept "
            b"(Ctrl-C again to quit at once)\n",
        )
        os.kill(os.getpid(), signal.SIGUSR1)

    def __exit__(self, *exc_info) -> None:
        signal.signal(signal.SIGINT, self._previous)
        os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        logging.getLogger("ray.tune.tune").removeFilter(self._filter)
