"""``python -m platform.watchdog PID MARK``: end the processes PID started, once PID is gone.

Why: Ray starts a local cluster's servers as the driver's children and its dashboard and
runtime-env agents as the raylet's; after a driver killed with SIGKILL the agents linger for a
minute or more (they wait out a report to the dead GCS), still listening. This process,
started by ``platform.cluster`` before the cluster, keeps a list of the driver's
descendants (pid and start time, so a reused pid is never hit) while its stdin pipe is open;
the driver's end closes the pipe, and every listed process still alive, with every process
started with the driver's mark in its environment (``MARK``), gets SIGTERM, then SIGKILL a
second later.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (after the parenthesised name): unique with the pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as file:
            return file.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as file:
                    parent = int(file.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def descendants(root: int) -> dict[int, str]:
    tree, found, todo = children(), {}, [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            started = start_time(child)
            if started and child not in found:
                found[child] = started
                todo.append(child)
    return found


MARK = "KIP_SWEEP_DRIVER"
"""An environment variable the driver sets once this process runs, before it starts its
cluster; every process it starts inherits it. It finds, once the driver is gone, the processes
started too shortly before its end to be on the last list (the tree that led to them is gone)."""


def marked(value: str) -> dict[int, str]:
    """The processes started with ``MARK=value`` in their environment (this user's: the others'
    are unreadable)."""
    needle = f"{MARK}={value}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as file:
                    if needle not in file.read().split(b"\0"):
                        continue
            except OSError:
                continue
            started = start_time(int(entry))
            if started:
                found[int(entry)] = started
    return found


def end(known: dict[int, str]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [pid for pid, started in known.items() if start_time(pid) == started]
        for pid in alive:
            with contextlib.suppress(OSError):  # ended meanwhile
                os.kill(pid, sig)
        if not alive:
            return
        time.sleep(1.0)


STARTING_S = 5.0
"""While the cluster starts (its servers, agents and first workers, within seconds of this
process), the list is refreshed every 0.1 s: a driver whose check fails ends a fraction of
a second after Ray started its agents. Every second after (a scan reads /proc: about 1.5 ms).
The mark finds the processes younger than the last list."""


def main(driver: int, mark: str) -> None:
    known: dict[int, str] = {}
    started = time.monotonic()
    while True:
        known = {pid: s for pid, s in known.items() if start_time(pid) == s} | descendants(driver)
        known.pop(os.getpid(), None)  # the driver's child too
        interval = 0.1 if time.monotonic() - started < STARTING_S else 1.0
        readable, _, _ = select.select([sys.stdin], [], [], interval)
        if readable and not os.read(sys.stdin.fileno(), 4096):
            break  # the pipe closed: the driver is gone
    end(known | marked(mark))  # not this process: it starts without the mark (platform.cluster)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    main(int(sys.argv[1]), sys.argv[2])
