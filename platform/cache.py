"""Build-once directories: keyed, atomic, locked. Shared by the base model and converted models.

Why one helper: every expensive artefact the platform prepares before a sweep (the embedded
base model, a GGUF file converted to a Hugging Face directory) must be built once per key,
never half-written (a crash leaves no directory that looks finished), and built by one
process while another sweep waits for it. The directory counts as finished when its
``marker`` file exists; the build writes into a staging folder that is renamed into place.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def build_once(
    target: Path, marker: str, build: Callable[[Path], dict[str, Any]], announce: Callable[[], None] = lambda: None
) -> Path:
    """``target``, after ``build(staging)`` filled it (only if no finished copy exists).

    ``build`` returns a report written as ``marker`` (JSON) last; ``announce`` runs only
    when this process really builds (to print one "preparing ..." line).
    """
    if (target / marker).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another sweep may be building the same thing
        if (target / marker).exists():
            return target
        announce()
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
        try:
            report = build(staging)
            (staging / marker).write_text(json.dumps(report, indent=2))
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
