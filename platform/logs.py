"""A quiet driver log: the platform's own progress lines, third-party chatter hidden.

Why: a researcher reads the sweep's log for "which trial, which epoch, how far"; MLflow's
database-migration INFO lines, Ray's runtime-env notices and Tune's experiment box and
TensorBoard hint bury that (and the TensorBoard hint points at files this platform does not
use: the curves are in MLflow). ``--verbose`` shows all of it again. Warnings and errors of
the libraries are kept: only their INFO-level and notice chatter is hidden, and two reports the
platform says itself: Tune's traceback of a failed trial, and a failed storage sync repeated
every second.
"""

from __future__ import annotations

import logging
import os

CHATTY_LOGGERS = {
    "mlflow": logging.WARNING,  # "Creating initial MLflow database tables...", "Updating database tables"
    "alembic": logging.WARNING,
    "ray._private.runtime_env.working_dir": logging.ERROR,  # ".git is now ignored by default when packaging"
    "ray._private.runtime_env.packaging": logging.ERROR,
    "ray._private.authentication.authentication_token_setup": logging.ERROR,  # "Token authentication is enabled"
    "ray.tune": logging.WARNING,
    "ray.train": logging.WARNING,
}

REPORTED_BY_THE_PLATFORM = {
    # "Trial task failed for trial ..." and the whole Ray traceback: the progress callback prints
    # the failure's own line and the path of its error.txt instead (a retry, or FAILED)
    "ray.tune.execution.tune_controller": "Trial task failed for trial",
    # with a traceback, once a second while the storage refuses writes (a full disk): the trials
    # fail with the error, and Tune's final "Saving experiment state ... failed" and the
    # driver's own message say it once
    "ray.train._internal.syncer": "Last sync command failed",
}
"""Third-party messages (logger: message prefix) hidden in a quiet log: the platform says them itself."""

_verbose: bool | None = None
"""``--verbose`` as ``configure`` was given it; None: never configured (a library use, a test)."""


def configure(verbose: bool) -> None:
    """Before Ray, MLflow or Tune are used: quiet unless ``verbose``."""
    global _verbose
    _verbose = verbose
    if verbose:
        return
    # Tune's reporter of Ray 2.x prints its box and TensorBoard hint at any verbosity; the
    # previous reporter prints nothing at ``verbose=0`` (the platform's callback reports instead)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Writing model shards" bars
    # DeepSpeed, imported on the driver by transformers' integrations, warns "Setting
    # accelerator to CPU" at import and resets its logger's level then: a filter survives that
    logging.getLogger("DeepSpeed").addFilter(lambda record: record.levelno >= logging.ERROR)
    for name, prefix in REPORTED_BY_THE_PLATFORM.items():
        logging.getLogger(name).addFilter(lambda record, prefix=prefix: not record.getMessage().startswith(prefix))
    reapply()


def worker_logs_shown() -> bool:
    """Whether the driver prints what trial processes and workers log (``--verbose`` only: the
    quiet log is the platform's own lines; a trial's error reaches it through Tune either way)."""
    return bool(_verbose)


def reapply() -> None:
    """The quiet levels again, after a library reconfigured logging (``ray.init`` does)."""
    if _verbose is False:
        for name, level in CHATTY_LOGGERS.items():
            logging.getLogger(name).setLevel(level)


def duration_text(seconds: float) -> str:
    """A time left or taken as progress lines print it: ``45s``, ``4m05s``, ``2.5h``."""
    seconds = max(0, round(seconds))
    return (
        f"{seconds}s"
        if seconds < 120
        else f"{seconds // 60}m{seconds % 60:02d}s"
        if seconds < 7200
        else f"{seconds / 3600:.1f}h"
    )
