"""User-facing errors: one exception type the command-line entry points turn into exit code 2.

Why a single type: every mistake a user can make (a wrong spec field, a missing file, an
unknown objective) must end as one clear message naming the field or file, with no stack
trace. Code raises ``UserError`` with that message; ``cli.main_guard`` prints it and exits 2.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (spec, data file, plugin name): printed, exit code 2."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ServiceUnavailable(Exception):
    """A service the sweep depends on (the MLflow store) stayed unreachable past its grace
    period: printed as one line, exit code 1 (not the user's input, so not exit 2)."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none): one-line errors."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
