"""The results file: machine, versions, command, and one table row per figure."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import platform as std_platform
from benchmarks.common import Figure, fmt


def cpu_model() -> str:
    """The ``model name`` of /proc/cpuinfo (first CPU), or what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return std_platform.processor() or "unknown"


def load_average() -> str:
    """The 1/5/15-minute load averages: other processes on a shared machine skew every figure."""
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def machine_info(threads: int) -> dict[str, str]:
    import ray
    import torch
    import transformers

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "torch threads": f"{threads} (torch.set_num_threads, every figure; "
        "the platform's default trial uses cpus_per_worker = 1)",
        "python": std_platform.python_version(),
        "torch": torch.__version__,
        "ray": ray.__version__,
        "transformers": transformers.__version__,
    }


def table(figures: list[Figure]) -> str:
    header = "| # | figure | value | baseline | ratio | target | met |"
    rows = [header, "|---|---|---|---|---|---|---|"]
    for f in figures:
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        rows.append(
            f"| {f.key} | {f.name} | {fmt(f.value)} {f.unit} | {f.baseline_name}: {fmt(f.baseline_value)} "
            f"{f.baseline_unit} "
            f"| {f.ratio:.3g}x | {f.target} | {met} |"
        )
    return "\n".join(rows)


def findings_link(results: Path, findings: Path) -> str:
    """The one line a results file gives the findings: a link, relative to the results file.

    Why a link and not a copy: FINDINGS.md is written by hand and keeps changing after a run;
    a copy inside RESULTS.md goes stale the day it is edited, and two texts then disagree.
    """
    target = Path(os.path.relpath(findings.resolve(), results.resolve().parent)).as_posix()
    return f"What these figures mean and what changed because of them: [{findings.name}]({target}) (written by hand)."


def write(
    path: Path,
    figures: list[Figure],
    command: str,
    threads: int,
    seconds: float,
    methods: str,
    findings: Path | None = None,
    load_at_start: str = "",
) -> None:
    """The results file at ``path``; ``findings`` (FINDINGS.md), when given, is linked, not copied."""
    info = machine_info(threads)
    info["load average 1/5/15 min"] = (
        f"{load_at_start} at start, {load_average()} at end (2 cores: above 2 means other work competed)"
    )
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{command}` (from the repository root; took {seconds:.0f} s).",
        "",
        *(f"- {k}: {v}" for k, v in info.items()),
        "",
        "## Figures",
        "",
        "Ratio = value / baseline, both measured in this run. Values are medians of repetitions after warm-up.",
        "",
        table(figures),
        "",
        "## Notes per figure",
        "",
        *(f"- **{f.key}. {f.name}**: {f.notes}" for f in figures if f.notes),
        "",
        "## Method",
        "",
        methods.strip(),
        "",
    ]
    if findings is not None:
        lines += ["## Findings", "", findings_link(path, findings), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
