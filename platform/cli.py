"""Command-line plumbing shared by ``platform.sweep`` and ``platform.report``.

Why a guard: user mistakes (``UserError``) must end as one clear line and exit code 2, with
no stack trace; so does a service that stayed down (exit 1). Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from platform.errors import ServiceUnavailable, UserError


def main_guard(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    def guarded(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except ServiceUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    return guarded


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once its output is out, without the interpreter's teardown.

    Why: after a sweep had printed its table, tearing down the interpreter (torch's and
    transformers' modules) and stopping the local Ray cluster gracefully took 5 s of every
    command, and nothing in them matters then: results, MLflow runs and Tune's state are
    written, the local cluster's processes end with this one (``platform/cluster.py``). The
    caller leaves a cluster it joined first (``ray.shutdown``)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
