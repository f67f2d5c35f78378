"""Where a sweep's time goes before and between trials: a process-title timeline (diagnostic).

    python -m benchmarks.profile_sweep [--epochs 30]

Runs figure 6's preparation and sweep, and meanwhile polls ``/proc`` every 0.2 s for the
sweep's descendant processes. Ray sets each worker's title to what it runs
(``ray::RayTrainWorker.run_train_fn``, ``ray::MapWorker(MapBatches(MicroBatchBuilder))``,
...), so the first time each title appears, next to the time-stamped ``[sweep]`` lines,
shows which phase costs what without changing the platform.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import sweep_overhead


def descendants(root: int) -> dict[int, str]:
    """pid -> command line of every live descendant of ``root``."""
    parents: dict[int, int] = {}
    titles: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                titles[int(entry)] = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError, ValueError):
            continue
    found: dict[int, str] = {}
    for pid in parents:
        node, hops = pid, 0
        while node in parents and node != root and hops < 20:
            node, hops = parents[node], hops + 1
        if node == root and pid != root:
            found[pid] = titles.get(pid, "")[:100]
    return found


class Poller(threading.Thread):
    """Records (seconds, pid, title) whenever a descendant's title is new or changed."""

    def __init__(self, start: float) -> None:
        super().__init__(daemon=True)
        self.start_time = start
        self.root: int | None = None
        self.events: list[tuple[float, int, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        seen: dict[int, str] = {}
        while not self.stop.is_set():
            if self.root is not None:
                for pid, title in descendants(self.root).items():
                    if seen.get(pid) != title:
                        seen[pid] = title
                        self.events.append((time.perf_counter() - self.start_time, pid, title))
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment of the sweep (to try a fix)"
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    import subprocess
    import sys

    with tempfile.TemporaryDirectory(prefix="kip-profile-") as tmp:
        home = Path(tmp)
        prepare_s = sweep_overhead.run_prepare(sweep_overhead.SPEC, sweep_overhead.overrides(args.epochs)[1::2], home)
        print(f"prepare: {prepare_s:.1f} s", flush=True)
        command = [sys.executable, "-m", "platform.sweep", sweep_overhead.SPEC, *sweep_overhead.overrides(args.epochs)]
        start = time.perf_counter()
        poller = Poller(start)
        lines: list[tuple[float, str]] = []
        with subprocess.Popen(
            command,
            cwd=sweep_overhead.REPO,
            env={**sweep_overhead.isolated_env(home), **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        ) as process:
            poller.root = process.pid
            poller.start()
            assert process.stdout is not None
            for line in process.stdout:
                lines.append((time.perf_counter() - start, line.rstrip("\n")))
            process.wait()
        poller.stop.set()
        merged = [(t, f"   out  {line}") for t, line in lines if line.startswith(("[sweep]", "[base]"))]
        firsts: dict[str, float] = {}
        for t, pid, title in poller.events:
            key = title.split(" ")[0] if title.startswith("ray::") else " ".join(title.split(" ")[:3])[:80]
            if key not in firsts:
                firsts[key] = t
                merged.append((t, f"   proc {key} (pid {pid})"))
            elif (
                title.startswith("ray::RayTrainWorker") or title.startswith("ray::MapWorker") or "run_train_fn" in title
            ):
                merged.append((t, f"   proc {key} (pid {pid}) again"))
        for t, text in sorted(merged):
            print(f"{t:7.2f}s {text}")
        print(f"total {time.perf_counter() - start:.1f} s")
        sweep_id = next(
            (line.split()[1].rstrip(":") for _, line in lines if line.startswith("[sweep] ") and " trials, " in line),
            None,
        )
        if process.returncode != 0:
            print(f"sweep exited {process.returncode}; last lines:")
            print("\n".join(line for _, line in lines[-30:]))
        elif sweep_id:
            print("trials' wall_time:", sweep_overhead.trial_wall_times(home, sweep_id))


if __name__ == "__main__":
    main()
