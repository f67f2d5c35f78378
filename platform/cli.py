"""Command-line plumbing shared by ``platform.sweep`` and ``platform.report``.

Why a guard: user mistakes (``UserError``) must end as one clear line and exit code 2, with
no stack trace; so does a service that stayed down (exit 1). Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

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
