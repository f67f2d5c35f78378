"""Finding objectives by name: built-in modules, installed entry points, or dotted paths.

Why resolve to a ``module:attr`` reference on the driver: entry points are visible only
where the plugin package is pip-installed (the driver), while Ray workers import by module
path. The sweep resolves each name once (``resolve``) and ships the reference; workers call
``load_reference``.

Three ways in, checked in this order:
1. a built-in: any ``Objective`` subclass with a ``name`` defined in a public module of this
   package (a module whose name starts with ``_`` is a helper, and ``TOOL_MODULES`` are tools:
   neither is imported here);
2. an entry point in the group ``knowledge_injection.objectives`` of an installed package;
3. a dotted path the user wrote: ``my_pkg.my_module:MyObjective`` (or ``my_pkg.my_module.MyObjective``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache
from importlib.metadata import entry_points

from objectives.base import Context, Objective
from platform.errors import UserError

ENTRY_POINT_GROUP = "knowledge_injection.objectives"
TOOL_MODULES = frozenset({"conformance", "registry"})
"""Public modules of the package that define no objective: never imported to find one (the
conformance kit loads torch and the model classes, which the sweep's checks do without)."""


@cache
def builtin_objectives() -> dict[str, str]:
    """Name -> ``module:Class`` for every objective defined in this package."""
    import objectives

    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(objectives.__path__):
        if info.name.startswith("_") or info.name in TOOL_MODULES:
            continue
        module = importlib.import_module(f"objectives.{info.name}")
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, Objective)
                and value.name
                and value.__module__ == module.__name__
            ):
                found[value.name] = f"{module.__name__}:{attr}"
    return found


def installed_objectives() -> dict[str, str]:
    """Name -> ``module:attr`` for objectives that installed packages declare as entry points."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_objectives() -> dict[str, str]:
    return {**builtin_objectives(), **installed_objectives()}


def resolve(name: str) -> str:
    """The ``module:attr`` reference for an objective name or dotted path; UserError if none."""
    known = known_objectives()
    if name in known:
        return known[name]
    if "." in name or ":" in name:
        reference = name if ":" in name else ":".join(name.rsplit(".", 1))
        load_reference(reference)  # fail now, on the driver, with a clear message
        return reference
    raise UserError(
        f"unknown objective {name!r}; known: {', '.join(sorted(known))} "
        "(or give a dotted path such as my_package.module:MyObjective)",
        where="objective.name",
    )


def load_reference(reference: str) -> type[Objective]:
    """Import ``module:attr`` and check it is an Objective subclass."""
    module_name, _, attr = reference.partition(":")
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise UserError(f"cannot import objective {reference!r}: {error}", where="objective.name") from None
    if not (inspect.isclass(value) and issubclass(value, Objective)):
        raise UserError(f"{reference!r} is not an Objective subclass (see objectives/base.py)", where="objective.name")
    return value


def instantiate(objective_cls: type[Objective], tokenizer, spec) -> Objective:
    """The objective for a trial: its context (tokenizer, chat layout, mask token) and options.

    ``spec`` is the trial's ``ExperimentSpec``; the mask token is required only by objectives
    that mask, so ``ar`` runs on tokenizers without one.
    """
    from platform.chat import ChatFormat
    from platform.tokenization import mask_token_id

    required = objective_cls.uses_mask_ratio or objective_cls.bidirectional
    context = Context(
        tokenizer,
        ChatFormat.from_tokenizer(tokenizer, spec.model.system_prompt),
        mask_token_id(tokenizer, spec.model, required),
    )
    return objective_cls(context, objective_cls.Options(**spec.objective.options()))
