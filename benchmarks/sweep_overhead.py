"""Figure 6: what a sweep costs beyond its trials' own training, and how soon training starts.

Runs ``python -m platform.sweep tests/specs/tiny.yaml --set train.epochs=E --set
search.max_concurrent=1`` (two trials, ``ar`` and ``masked_ar``, one after the other) as a
user would, in a subprocess with ``KIP_HOME`` and ``KIP_CACHE_DIR`` in a temporary directory,
for minute-long trials and for 10 s ones, each twice: as the platform runs a single-worker
trial (in the Tune trial's own process) and, as the baseline, on a Ray Train worker group
(``resources.runner=ray_train``, what every trial used before). One-time costs are paid first,
in their own timed subprocess (``python -m benchmarks.sweep_overhead prepare``: building the
tiny base model into the empty cache and creating the MLflow store), so each timed sweep is a
new sweep on a machine that has run the platform before; they are reported in the notes.
Every output line of a sweep is time-stamped on arrival. Measured:

- sweep overhead: command wall time against the sum of the trials' reported ``wall_time``
  (``results.csv``: training loop start -> last evaluation's metrics; training and evaluation);
- per-trial overhead: ``[sweep] start`` -> ``[sweep] done`` of each trial against its
  ``wall_time`` (process or worker start, model load, stream start, reporting);
- time to the first training step, bracketed without touching the platform: the first
  ``[sweep] start`` line (lower bound) and the first ``epoch 1`` progress line (upper bound:
  one epoch, i.e. the first steps, plus its evaluation, done);
- the floor under the fixed cost (``benchmarks.startup_floor``, three runs): a new local
  cluster and one new trial process that imports torch and transformers, steps once and exits,
  next to the platform's fixed cost with the 10 s trials and the fixed cost their target allows;
- the README's main job, ``search_spaces/lr.yaml`` (with the user's base-model cache):
  trials per hour against the rate with no overhead, and core utilisation: the trials'
  processes' CPU seconds (their reported ``process_cpu_s``) and the whole machine's
  (``/proc/stat``), each over wall time and cores.
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
    busy_s: float = 0.0
    """CPU-seconds the whole machine spent while the command ran."""

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
        """First time ``pattern`` matched per trial (progress lines: epochs >= 1 only, not the evaluation
        before training)."""
        found: dict[str, float] = {}
        for at, line in self.lines:
            match = pattern.match(line)
            if match and not (pattern is _RESULT and int(match.group(2)) < 1):
                found.setdefault(match.group(1), at)
        return found


RUNNERS = ("trial_process", "ray_train")
"""The platform's single-worker default (training in the Tune trial's process) and, as the
baseline measured in the same run, the Ray Train worker group it replaced for one worker."""


def overrides(epochs: int, runner: str = "trial_process") -> list[str]:
    return [
        "--set",
        f"train.epochs={epochs}",
        "--set",
        "search.max_concurrent=1",
        "--set",
        f"resources.runner={runner}",
    ]


def isolated_env(home: Path, shared_cache: bool = False) -> dict[str, str]:
    """This environment with the platform's state in ``home`` and a Ray cluster of its own
    (``shared_cache``: the user's base-model cache, for the default world's base model)."""
    env = {key: value for key, value in os.environ.items() if key not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env.update({"KIP_HOME": str(home / "home"), "RAY_AUTH_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false"})
    if not shared_cache:
        env["KIP_CACHE_DIR"] = str(home / "cache")
    return env


def prepare(spec_path: str, items: list[str]) -> None:
    """One-time costs of a fresh machine, as ``platform.sweep.main`` pays them: base models, MLflow store."""
    from platform import tracking
    from platform.plan import base_stages, parse_overrides, validate_trials
    from platform.spec import load_spec
    from platform.sweep import resolve_models

    spec = load_spec(spec_path, parse_overrides(items))
    _, refs, cell_specs = validate_trials(spec, spec_path)
    tracking.check_reachable(tracking.tracking_uri(spec.tracking.uri), spec.tracking.experiment)
    resolve_models(base_stages(cell_specs, refs, spec_path), None)


def run_prepare(spec: str, items: list[str], home: Path, shared_cache: bool = False) -> float:
    """Seconds of the one-time costs, in a subprocess with the sweep's environment."""
    command = [sys.executable, "-m", "benchmarks.sweep_overhead", "prepare", spec, *items]
    start = time.perf_counter()
    result = subprocess.run(
        command,
        cwd=REPO,
        env=isolated_env(home, shared_cache),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"sweep preparation failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    return time.perf_counter() - start


def machine_busy_seconds() -> float:
    """CPU-seconds all processes of this machine spent so far (``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as file:
        fields = [int(v) for v in file.readline().split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def run_sweep(spec: str, items: list[str], home: Path, shared_cache: bool = False) -> SweepRun:
    """The sweep command in a subprocess with isolated state; lines stamped as they arrive."""
    command = [sys.executable, "-m", "platform.sweep", spec, *items]
    run = SweepRun(command)
    busy, start = machine_busy_seconds(), time.perf_counter()
    with subprocess.Popen(
        command,
        cwd=REPO,
        env=isolated_env(home, shared_cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.append((time.perf_counter() - start, line.rstrip("\n")))
        run.returncode = process.wait()
    run.wall_s = time.perf_counter() - start
    run.busy_s = machine_busy_seconds() - busy
    if run.returncode != 0:
        tail = "\n".join(line for _, line in run.lines[-40:])
        raise RuntimeError(f"sweep exited {run.returncode}:\n{tail}")
    return run


def sweep_id_of(run: SweepRun) -> str:
    header = run.first(_ID)
    assert header is not None, "no '[sweep] <id>: N trials' line"
    return header[1].group(1)


def trial_wall_times(home: Path, sweep_id: str) -> dict[str, float]:
    """Each trial's reported ``wall_time`` (seconds), from the sweep's results.csv."""
    path = home / "home" / "results" / sweep_id / "results.csv"
    with open(path, newline="", encoding="utf-8") as file:
        return {row["trial"]: float(row["wall_time_s"]) for row in csv.DictReader(file)}


def trial_cpu_seconds(home: Path, sweep_id: str) -> float:
    """CPU-seconds of the trials' training processes (each trial's last ``process_cpu_s``, Tune's result.json)."""
    total = 0.0
    for path in (home / "home" / "results" / sweep_id).glob("*/result.json"):
        results = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        total += max((r.get("process_cpu_s", 0.0) for r in results), default=0.0)
    return total


def base_build_seconds(cache: Path) -> float:
    """Seconds the command spent building the base models in ``cache`` (0 if none was built)."""
    reports = list(cache.glob("base/*/base_report.json"))
    return sum(json.loads(p.read_text())["seconds"] for p in reports)


@dataclass
class Measured:
    """One figure-6 sweep: its command, its trials' own time, and what lay between."""

    run: SweepRun
    walls: dict[str, float]
    spans: dict[str, float]
    first_result: float
    first_start: float

    @classmethod
    def of(cls, run: SweepRun, home: Path) -> Measured:
        walls = trial_wall_times(home, sweep_id_of(run))
        starts, dones, results = run.per_trial(_START), run.per_trial(_DONE), run.per_trial(_RESULT)
        spans = {t: dones[t] - starts[t] for t in walls if t in starts and t in dones}
        return cls(run, walls, spans, min(results.values()), min(starts.values()))

    @property
    def trained(self) -> float:
        return sum(self.walls.values())

    @property
    def overhead(self) -> float:
        return 1 - self.trained / self.run.wall_s

    @property
    def per_trial_overhead(self) -> float:
        span = sum(self.spans.values())
        return 1 - self.trained / span if span else float("nan")

    def describe(self) -> str:
        trials = ", ".join(
            f"{self.walls[t]:.1f} s trained / {self.spans.get(t, float('nan')):.1f} s start->done" for t in self.walls
        )
        gaps = self.run.result_gaps()
        gap = f"; median {median(gaps):.2f} s between a trial's consecutive evaluated epochs" if gaps else ""
        return f"command {self.run.wall_s:.1f} s: {trials}{gap}"


def overhead_figures(label: str, epochs: int, target: float, home: Path) -> tuple[list[Figure], Measured]:
    """Two trials of ``epochs`` one after the other, in the trials' processes and, as the
    baseline, on Ray Train worker groups (the same spec otherwise, one right after the other);
    and the platform's sweep, for ``floor_figure``."""
    new, old = (Measured.of(run_sweep(SPEC, overrides(epochs, runner), home), home) for runner in RUNNERS)
    name = f"{len(new.walls)} trials x {epochs} epochs, tiny.yaml"
    figures = [
        Figure(
            "6",
            f"sweep overhead, {label} trials ({name})",
            new.overhead * 100,
            "% of wall time",
            "the same sweep on Ray Train worker groups: command",
            old.run.wall_s,
            "s",
            new.run.wall_s / old.run.wall_s,
            f"<= {target:.0%} of wall time",
            new.overhead <= target,
            f"in the trials' processes: {new.describe()}; on worker groups: overhead {old.overhead:.0%}, "
            f"{old.describe()}",
        ),
        Figure(
            "6",
            f"per-trial overhead, {label} trials (start->done vs wall_time)",
            new.per_trial_overhead * 100,
            "% of trial span",
            "on Ray Train worker groups",
            old.per_trial_overhead * 100,
            "% of trial span",
            new.per_trial_overhead / old.per_trial_overhead if old.per_trial_overhead else float("nan"),
            notes="trial start -> done around the loop's own wall_time: model load, MLflow run, reporting, teardown",
        ),
        Figure(
            "6",
            f"command start -> first training step, {label} trials (upper bound: first epoch-1 result)",
            new.first_result,
            "s",
            "on Ray Train worker groups",
            old.first_result,
            "s",
            new.first_result / old.first_result,
            "<= 10 s",
            new.first_result <= 10,
            f"lower bound (first '[sweep] start' line): {new.first_start:.1f} s (worker groups: "
            f"{old.first_start:.1f} s)",
        ),
    ]
    return figures, new


def run_floor(home: Path) -> tuple[float, float]:
    """``benchmarks.startup_floor`` in a subprocess with a sweep's environment: (its wall time,
    its first step's end), seconds since it was started."""
    env = isolated_env(home)
    started = time.time()
    env["BENCH_T0"] = repr(started)
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.startup_floor"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wall = time.time() - started
    if result.returncode != 0:
        raise RuntimeError(f"startup floor exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    return wall, json.loads(result.stdout.strip().splitlines()[-1])["first_step_s"]


def floor_figure(sweep: Measured, target: float, home: Path, reps: int = 3) -> Figure:
    """The least fixed cost of any sweep that trains in a new process of a new local cluster
    (``benchmarks.startup_floor``, median of ``reps``), next to the platform's fixed cost in
    ``sweep`` and the fixed cost that ``target`` allows its trials."""
    runs = [run_floor(home) for _ in range(reps)]
    floor, first_step = median([wall for wall, _ in runs]), median([step for _, step in runs])
    fixed = sweep.run.wall_s - sweep.trained
    allowed = sweep.trained * target / (1 - target)
    return Figure(
        "6",
        "fixed-cost floor: a new local Ray cluster and one new trial process (torch, transformers), one step, exit",
        floor,
        "s",
        "the platform's fixed cost with the 10 s trials (command - trained)",
        fixed,
        "s",
        fixed / floor,
        notes=f"{reps} runs of `python -m benchmarks.startup_floor` (no spec, checks, Tune, MLflow, data or "
        f"evaluation), command {', '.join(f'{wall:.2f}' for wall, _ in runs)} s, first step at "
        f"{', '.join(f'{step:.2f}' for _, step in runs)} s (median {first_step:.2f}); the {target:.0%} target "
        f"allows the 10 s trials ({sweep.trained:.1f} s trained) a fixed cost of {allowed:.1f} s; the floor alone "
        f"would be {floor / (floor + sweep.trained):.1%} of their wall time",
    )


def lr_sweep_figures(home: Path) -> list[Figure]:
    """The README's main job (``search_spaces/lr.yaml``, 6 trials, two at a time): trials per
    hour against the rate with no overhead at all, and how busy the cores were."""
    from platform.paths import cache_dir

    spec = "search_spaces/lr.yaml"
    prepare_s = run_prepare(spec, [], home, shared_cache=True)
    run = run_sweep(spec, [], home, shared_cache=True)
    sweep_id = sweep_id_of(run)
    walls = trial_wall_times(home, sweep_id)
    concurrent, cores = 2, os.cpu_count() or 1
    per_hour = 3600 * len(walls) / run.wall_s
    ideal = 3600 * len(walls) / (sum(walls.values()) / concurrent)
    trial_cpu = trial_cpu_seconds(home, sweep_id)
    return [
        Figure(
            "6",
            f"trials per hour, search_spaces/lr.yaml ({len(walls)} trials, {concurrent} at a time)",
            per_hour,
            "trials/h",
            "the same trials with no overhead (sum of wall_time / concurrency)",
            ideal,
            "trials/h",
            per_hour / ideal,
            notes=f"command {run.wall_s:.0f} s with the base model cached (one-time costs before it: "
            f"{prepare_s:.0f} s, "
            f"base models built there {base_build_seconds(cache_dir()):.0f} s in all)",
        ),
        Figure(
            "6",
            "core utilisation during search_spaces/lr.yaml (trial processes' CPU s / wall / cores)",
            trial_cpu / run.wall_s / cores * 100,
            "%",
            "the whole machine (/proc/stat busy CPU s / wall / cores)",
            run.busy_s / run.wall_s / cores * 100,
            "%",
            trial_cpu / run.busy_s,
            notes=f"{trial_cpu:.0f} CPU s in trial processes, {run.busy_s:.0f} CPU s machine-wide, {run.wall_s:.0f} "
            f"s wall, {cores} cores; "
            "each trial's MLflow run also carries MLflow's system metrics (system/cpu_utilization_percentage, ...)",
        ),
    ]


def run(settings: Settings) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="kip-bench-") as tmp:
        home = Path(tmp)
        prepare_s = run_prepare(SPEC, overrides(settings.sweep_epochs)[1::2], home)
        figures, _ = overhead_figures("minute-long", settings.sweep_epochs, 0.10, home)
        short, short_sweep = overhead_figures("10 s", settings.short_sweep_epochs, 0.25, home)
        figures += [*short, floor_figure(short_sweep, 0.25, home)]
        build_s = base_build_seconds(home / "cache")
        figures[0].notes += (
            f"; one-time costs before the timed sweeps (not counted): {prepare_s:.1f} s, of which base model build "
            f"{build_s:.1f} s"
        )
        figures += lr_sweep_figures(home)
    return figures


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
