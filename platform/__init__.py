"""The knowledge-injection platform, standing in for the standard-library ``platform`` module.

Why this file executes the standard library's ``platform.py``: users run
``python -m platform.sweep`` from the repository root, so this package shadows the standard
module of the same name in every process that has the repository first on ``sys.path``
(the driver, and every Ray worker, because Ray puts the job's ``working_dir`` there). Ray,
torch, uuid and mlflow all call ``platform.system()``, ``platform.uname()`` and friends. By
running the standard module's source in this package's namespace, the package *is* the
standard module (every function and class, pickling as ``platform.X``) plus our submodules.

Consequence: this package cannot be installed into site-packages (the standard module wins
there); run it from a checkout, and ship the checkout to Ray as ``runtime_env.working_dir``.
"""

import os as _os
import sysconfig as _sysconfig

_STDLIB_PLATFORM = _os.path.join(_sysconfig.get_path("stdlib"), "platform.py")
with open(_STDLIB_PLATFORM, encoding="utf-8") as _source:
    exec(compile(_source.read(), _STDLIB_PLATFORM, "exec"), globals())  # noqa: S102

REPO_ROOT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
"""The checkout this package was imported from: shipped to Ray as the job's working_dir."""

__version__ = "0.1.0"
