"""Figure 6: what a sweep costs beyond its trials' own training, and how soon training starts.

Runs ``python -m platform.sweep tests/specs/tiny.yaml --set train.epochs=E --set
search.max_concurrent=1`` (two trials, ``ar`` and ``masked_ar``, one after the other) as a
user would, in a subprocess with ``KIP_HOME`` and ``KIP_CACHE_DIR`` in a temporary directory.
One-time costs are paid first, in their own timed subprocess (``python -m
benchmarks.sweep_overhead prepare``: building the tiny base model into the empty cache and
creating the MLflow store), so the timed sweep is a new sweep on a machine that has run the
platform before; the one-time costs are reported in the notes. Every output line of the
sweep is time-stamped on arrival. Measured:

- sweep overhead: command wall time against the sum of the trials' reported ``wall_time``
  (``results.csv``: worker loop start -> last evaluation's metrics; training and evaluation);
- per-trial overhead: ``[sweep] start`` -> ``[sweep] done`` of each trial against its
  ``wall_time`` (Ray Train worker start, model load, Ray Data startup, reporting);
- time to the first training step, bracketed without touching the platform: the first
  ``[sweep] start`` line (lower bound: no worker exists yet) and the first ``epoch 1``
  progress line (upper bound: one epoch, i.e. the first steps, plus its evaluation, done).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import REPO, Figure, Settings, median

SPEC = "tests/specs/tiny.yaml"
_ID = re.compile(r"^\[sweep\] (\S+): \d+ trials")
_START = re.compile(r"^\[sweep\] start\s+(\S+)")
_RESULT = re.compile(r"^\[sweep\] (\S+) .*epoch\s+(\d+)/")
_DONE = re.compile(r"^\[sweep\] done\s+(\S+)")


@dataclass
class SweepRun:
    """Time-stamped output of one sweep command (seconds since the command started)."""

    command: list[str]
    wall_s: float = 0.0
    returncode: int = 0
    lines: list[tuple[float, str]] = field(default_factory=list)

    def first(self, pattern: re.Pattern[str]) -> tuple[float, re.Match[str]] | None:
        for at, line in self.lines:
            match = pattern.match(line)
            if match:
                return at, match
        return None

    def result_gaps(self) -> list[float]:
        """Seconds between consecutive progress (evaluated-epoch) lines of the same trial."""
        last: dict[str, float] = {}
        gaps = []
        for at, line in self.lines:
            match = _RESULT.match(line)
            if match:
                if match.group(1) in last:
                    gaps.append(at - last[match.group(1)])
                last[match.group(1)] = at
        return gaps

    def per_trial(self, pattern: re.Pattern[str]) -> dict[str, float]:
        """First time ``pattern`` matched per trial (progress lines: epochs >= 1 only, not a pre-training evaluation)."""
        found: dict[str, float] = {}
        for at, line in self.lines:
            match = pattern.match(line)
            if match and not (pattern is _RESULT and int(match.group(2)) < 1):
                found.setdefault(match.group(1), at)
        return found


def overrides(epochs: int) -> list[str]:
    return ["--set", f"train.epochs={epochs}", "--set", "search.max_concurrent=1"]


def isolated_env(home: Path) -> dict[str, str]:
    """This environment with the platform's state in ``home`` and a Ray cluster of its own."""
    env = {key: value for key, value in os.environ.items() if key not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env.update({"KIP_HOME": str(home / "home"), "KIP_CACHE_DIR": str(home / "cache"), "RAY_AUTH_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false"})
    return env


def prepare(spec_path: str, items: list[str]) -> None:
    """One-time costs of a fresh machine, as ``platform.sweep.main`` pays them: base models, MLflow store."""
    from platform import tracking
    from platform.plan import parse_overrides, validate_trials
    from platform.spec import load_spec
    from platform.sweep import resolve_models

    spec = load_spec(spec_path, parse_overrides(items))
    _, refs, _ = validate_trials(spec, spec_path)
    tracking.check_reachable(tracking.tracking_uri(spec.tracking.uri), spec.tracking.experiment)
    resolve_models(spec, refs, None)


def run_prepare(epochs: int, home: Path) -> float:
    """Seconds of the one-time costs, in a subprocess with the sweep's environment."""
    items = [v for k, v in zip(overrides(epochs)[::2], overrides(epochs)[1::2], strict=True) if k == "--set"]
    command = [sys.executable, "-m", "benchmarks.sweep_overhead", "prepare", SPEC, *items]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=isolated_env(home), capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"sweep preparation failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    return time.perf_counter() - start


def run_sweep(epochs: int, home: Path) -> SweepRun:
    """The sweep command in a subprocess with isolated state; lines stamped as they arrive."""
    command = [sys.executable, "-m", "platform.sweep", SPEC, *overrides(epochs)]
    env = isolated_env(home)
    run = SweepRun(command)
    start = time.perf_counter()
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.append((time.perf_counter() - start, line.rstrip("\n")))
        run.returncode = process.wait()
    run.wall_s = time.perf_counter() - start
    return run


def trial_wall_times(home: Path, sweep_id: str) -> dict[str, float]:
    """Each trial's reported ``wall_time`` (seconds), from the sweep's results.csv."""
    path = home / "home" / "results" / sweep_id / "results.csv"
    with open(path, newline="", encoding="utf-8") as file:
        return {row["trial"]: float(row["wall_time_s"]) for row in csv.DictReader(file)}


def base_build_seconds(home: Path) -> float:
    """Seconds the command spent building the tiny base model (0 if it was cached)."""
    reports = list((home / "cache").glob("base/*/base_report.json"))
    return sum(json.loads(p.read_text())["seconds"] for p in reports)


def run(settings: Settings) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="kip-bench-") as tmp:
        home = Path(tmp)
        prepare_s = run_prepare(settings.sweep_epochs, home)
        sweep = run_sweep(settings.sweep_epochs, home)
        if sweep.returncode != 0:
            tail = "\n".join(line for _, line in sweep.lines[-40:])
            raise RuntimeError(f"sweep exited {sweep.returncode}:\n{tail}")
        header = sweep.first(_ID)
        assert header is not None, "no '[sweep] <id>: N trials' line"
        sweep_id = header[1].group(1)
        walls = trial_wall_times(home, sweep_id)
        base_s = base_build_seconds(home)
    starts, dones, first_results = sweep.per_trial(_START), sweep.per_trial(_DONE), sweep.per_trial(_RESULT)
    trained = sum(walls.values())
    spans = {t: dones[t] - starts[t] for t in walls if t in starts and t in dones}
    span_total = sum(spans.values())
    share = 1 - trained / sweep.wall_s
    per_trial_share = 1 - trained / span_total if span_total else float("nan")
    first_start = min(starts.values())
    first_result = min(first_results.values())
    gaps = sweep.result_gaps()
    gap = f"median {median(gaps):.2f} s between a trial's consecutive evaluated epochs (every epoch is evaluated and reported)" if gaps else ""
    trials = ", ".join(f"{t}: {walls[t]:.1f} s trained / {spans.get(t, float('nan')):.1f} s start->done" for t in walls)
    return [
        Figure(
            "6", f"sweep overhead ({len(walls)} trials x {settings.sweep_epochs} epochs, tiny.yaml)", share * 100, "% of wall time",
            "trials' own wall_time (sum)", trained, "s", sweep.wall_s / trained, "< 15% (minute-long trials)", share < 0.15,
            f"command {sweep.wall_s:.1f} s (warm cache); {trials}; one-time costs before it (not counted): "
            f"{prepare_s:.1f} s, of which base model build {base_s:.1f} s",
        ),
        Figure(
            "6", "per-trial overhead (start->done vs wall_time)", per_trial_share * 100, "% of trial span",
            "trials' own wall_time (sum)", trained, "s", span_total / trained, notes=f"Ray Train workers, model load, Ray Data startup, reporting; {gap}",
        ),
        Figure(
            "6", "command start -> first training step (upper bound: first epoch-1 result)", first_result, "s",
            "command wall time", sweep.wall_s, "s", first_result / sweep.wall_s, "within 20 s", first_result <= 20,
            f"lower bound (first '[sweep] start' line): {first_start:.1f} s; first '[sweep] <id>: N trials' line: {header[0]:.1f} s",
        ),
    ]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="figure 6 helper: pay a fresh machine's one-time costs")
    parser.add_argument("command", choices=["prepare"])
    parser.add_argument("spec")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE, as --set takes them")
    args = parser.parse_args()
    prepare(args.spec, args.overrides)


if __name__ == "__main__":
    main()
