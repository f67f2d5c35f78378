"""The project's layers and the imports between them: ``python -m tests.import_layers``.

Why layers: a reader (and a plugin author) should be able to understand a module by reading
it and what lies below it, never what lies above. Bottom to top:

- ``foundation``: errors, paths, caching, logging, the spec's models, run names;
- ``data``: corpora, worlds, the masked stream, the mask-ratio sampler, tokenizers and
  models, chat layout, decoding, the paper's metric, tracking (MLflow, and a trial's writer
  process) and storage;
- ``objectives``: the plugin interface and every objective;
- ``training``: what runs a model for a trial: engine, checkpoints, the worker loop, the
  base stage, the checks before a trial;
- ``presentation``: tables, reports and the console, beside the sweep: they read MLflow, never
  the trial's Ray and torch stack;
- ``orchestration``: the trial, the sweep, its plan and its Ray cluster.

A module may import its own layer and the layers its layer lists; anything else is an
upward (or sideways) import, which ``tests/test_import_layers.py`` fails on. Function-level
imports count: a lazy import is still a dependency. Run this file to see the graph (layer to
layer counts, then every upward import; ``--edges`` lists every import between layers).
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("platform", "objectives")

LAYERS = ("foundation", "data", "objectives", "training", "presentation", "orchestration")
ALLOWED = {
    "foundation": set(),
    "data": {"foundation"},
    "objectives": {"foundation", "data"},
    "training": {"foundation", "data", "objectives"},
    "presentation": {"foundation", "data"},
    "orchestration": {"foundation", "data", "objectives", "training", "presentation"},
}
"""Which layers each layer may import, besides itself."""

_MODULE_LAYERS = {
    "foundation": (
        "platform",
        "platform.errors",
        "platform.paths",
        "platform.cache",
        "platform.logs",
        "platform.spec",
        "platform.interrupts",
        "platform.cli",
        "platform.run_names",
    ),
    "data": (
        "platform.data",
        "platform.chat",
        "platform.scoring",
        "platform.evaluate",
        "platform.decoding",
        "platform.models",
        "platform.tokenization",
        "platform.pretrained",
        "platform.capacity",
        "platform.storage",
        "platform.tracking",
        "platform.run_writer",
    ),
    "objectives": ("objectives",),
    "training": (
        "platform.engine",
        "platform.strategy",
        "platform.checkpoint",
        "platform.trial_session",
        "platform.worker",
        "platform.trial_config",
        "platform.base_model",
        "platform.base_training",
        "platform.preflight",
        "platform.watchdog",
    ),
    "presentation": ("platform.results", "platform.report", "platform.progress", "platform.selection"),
    "orchestration": ("platform.trial", "platform.search", "platform.plan", "platform.sweep", "platform.cluster"),
}
"""Module (or package prefix) -> layer; the longest matching prefix decides."""


def layer_of(module: str) -> str | None:
    best, layer = "", None
    for name, prefixes in _MODULE_LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, layer = prefix, name
    return layer


def project_modules(root: Path = REPO) -> dict[str, Path]:
    """Module name -> file, for every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules a file imports, at any depth (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from platform import tracking`` imports the module platform.tracking
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                for alias in node.names
            ]
        else:
            continue
        found |= {name for name in names if name.split(".")[0] in PACKAGES}
    return {_existing(name, modules) for name in found}


def _existing(name: str, modules: dict[str, Path]) -> str:
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def graph(root: Path = REPO) -> dict[str, set[str]]:
    modules = project_modules(root)
    return {module: imports_of(path, modules) - {module} for module, path in modules.items()}


def unassigned(edges: dict[str, set[str]]) -> list[str]:
    return sorted(module for module in edges if layer_of(module) is None)


def upward_imports(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs that break the layering."""
    bad = []
    for module, imported in sorted(edges.items()):
        layer = layer_of(module)
        for target in sorted(imported):
            target_layer = layer_of(target)
            if layer and target_layer and target_layer != layer and target_layer not in ALLOWED[layer]:
                bad.append((module, target))
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="a checkout to read (default: this one)")
    parser.add_argument("--edges", action="store_true", help="also list every import between two layers")
    args = parser.parse_args()
    edges = graph(args.root)
    counts = Counter((layer_of(m), layer_of(t)) for m, targets in edges.items() for t in targets)
    print(f"{len(edges)} modules; imports between layers (rows import columns):")
    print(f"{'':>14} " + " ".join(f"{name[:12]:>12}" for name in LAYERS))
    for row in LAYERS:
        print(f"{row:>14} " + " ".join(f"{counts.get((row, column), 0) or '.':>12}" for column in LAYERS))
    if args.edges:
        for module, targets in sorted(edges.items()):
            for target in sorted(targets):
                if layer_of(module) != layer_of(target):
                    print(f"  {module} ({layer_of(module)}) -> {target} ({layer_of(target)})")
    for module in unassigned(edges):
        print(f"no layer: {module}")
    bad = upward_imports(edges)
    print(f"{len(bad)} upward imports" + (":" if bad else ""))
    for module, target in bad:
        print(f"  {module} ({layer_of(module)}) -> {target} ({layer_of(target)})")


if __name__ == "__main__":
    main()
