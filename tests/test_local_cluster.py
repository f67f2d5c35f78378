"""The local Ray cluster a sweep starts: loopback only, token required, free ports, and
nothing left running after its driver is killed, while it trains or while Ray starts.

One sweep runs while the test reads the listening sockets of every process the driver
started, tries an unauthenticated client over loopback, runs a ``ray start --head`` with a
job beside it, and finally kills the driver with SIGKILL. No traffic goes to any address but
loopback.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from platform.cluster import PREEMPTION_WATCHER
from platform.watchdog import children, descendants, start_time
from tests.conftest import REPO
from tests.ray_head import RAY, ray_head

pytestmark = pytest.mark.integration

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
RAY_FIXED_PORTS = {52365, 44217, 44227}  # dashboard agent, autoscaler and dashboard metrics


def listening_sockets(pids) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket the processes hold (from /proc)."""
    by_inode = {}
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            raw = b"".join(
                raw[i : i + 4][::-1] for i in range(0, len(raw), 4)
            )  # /proc prints 32-bit words little-endian
            by_inode[fields[9]] = (socket.inet_ntop(family, raw), int(port, 16))
    found = []
    for pid in pids:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        for link in links:
            inode = link.removeprefix("socket:[").removesuffix("]")
            if link.startswith("socket:[") and inode in by_inode:
                found.append((pid, *by_inode[inode]))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_and_expect_gone(driver: subprocess.Popen, processes: dict[int, str]) -> None:
    """SIGKILL the driver; every one of ``processes`` (pid: start time) must end within 20 s."""
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    deadline = time.time() + 20
    while time.time() < deadline and any(start_time(pid) == started for pid, started in processes.items()):
        time.sleep(0.5)
    left = [cmdline(pid)[:100] for pid, started in processes.items() if start_time(pid) == started]
    assert not left, left


def test_the_local_cluster_is_loopback_only_token_protected_on_free_ports_and_ends_with_its_driver(tmp_path, cache_dir):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "KIP_HOME": str(tmp_path / "kip")}
    env.pop("RAY_AUTH_MODE")  # the defaults: token authentication on,
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")  # and the platform's own choice of loopback
    args = [
        sys.executable,
        "-m",
        "platform.sweep",
        str(REPO / "tests" / "specs" / "tiny.yaml"),
        "--set",
        "train.epochs=30000",
        "--set",
        "eval.every=50",
        "--set",
        "search.grid={objective.name: ['tests.plugins.probes:PacedAR']}",
        "--set",
        "tracking.experiment=local-cluster",
    ]
    driver = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        lines = []
        for line in driver.stdout:
            lines.append(line)
            if " epoch   50/30000" in line:  # training, paced: nearly an hour left
                break
        assert driver.poll() is None, "".join(lines)[-3000:]
        processes = descendants(driver.pid)
        sockets = listening_sockets([driver.pid, *processes])

        # 1. every server of the cluster listens on loopback only, none on Ray's fixed ports
        assert any("gcs_server" in cmdline(pid) for pid, _, _ in sockets), sockets
        outside = [(pid, cmdline(pid)[:80], address, port) for pid, address, port in sockets if address not in LOOPBACK]
        assert not outside, outside
        fixed = [(pid, cmdline(pid)[:80], port) for pid, _, port in sockets if port in RAY_FIXED_PORTS]
        assert not fixed, fixed
        # nor runs what one machine and a driver without worker logs have no use for
        monitors = [cmdline(pid)[:120] for pid in processes if "monitor.py" in cmdline(pid)]
        assert not monitors, monitors
        # nor the API server that would only report usage statistics, nor idle workers prestarted
        # without the sweep's runtime env (its trials could never run in them)
        unneeded = ("dashboard.py", "ray::IDLE")
        unused = [cmdline(pid)[:120] for pid in processes if any(name in cmdline(pid) for name in unneeded)]
        assert not unused, unused
        # and one machine has no node to drain: its trials run Ray Train without a preemption watcher
        trial = next(pid for pid in processes if cmdline(pid).startswith("ray::ImplicitFunc"))
        assert f"{PREEMPTION_WATCHER}=0".encode() in Path(f"/proc/{trial}/environ").read_bytes().split(b"\0")

        # 2. token authentication is on: a token only this user can read, and a client
        # without it is refused (over loopback)
        token = home / ".ray" / "auth_token"
        assert token.is_file() and stat.S_IMODE(token.stat().st_mode) == 0o600
        gcs_port = next(port for pid, _, port in sockets if "gcs_server" in cmdline(pid))
        stranger_home = tmp_path / "stranger"
        stranger_home.mkdir()
        stranger = subprocess.run(
            [sys.executable, "-c", f"import ray; ray.init(address='127.0.0.1:{gcs_port}')"],
            env={
                **env,
                "HOME": str(stranger_home),
                "RAY_AUTH_MODE": "disabled",
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stranger.returncode != 0, stranger.stdout[-2000:]
        assert "Authentication token is missing or incorrect" in stranger.stdout + stranger.stderr, stranger.stderr[
            -2000:
        ]

        # 3. free ports: a `ray start --head` beside the sweep gets its job agent and runs a job
        head_env = {
            **env,
            "RAY_AUTH_MODE": "token",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
        with ray_head(
            head_env, dashboard=True, agent_port=52365
        ) as head:  # Ray's default, which the sweep must leave free
            for _ in range(60):
                job = subprocess.run(
                    [
                        RAY,
                        "job",
                        "submit",
                        "--address",
                        head.dashboard_address,
                        "--",
                        "python",
                        "-c",
                        "print('job agent up')",
                    ],
                    env=head_env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                if not any(
                    s in job.stderr + job.stdout
                    for s in ("No available agent", "Failed to connect", "Connection refused")
                ):
                    break  # the head's dashboard and job agent are up (they start a little after it)
                time.sleep(2)
            assert job.returncode == 0 and "job agent up" in job.stdout, job.stdout[-2000:] + job.stderr[-2000:]

        # 4. a driver killed with SIGKILL leaves nothing running (Ray's agents lingered a minute)
        processes = {
            pid: started for pid, started in descendants(driver.pid).items() if "platform.watchdog" not in cmdline(pid)
        } | processes
        kill_and_expect_gone(driver, processes)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)


def test_a_driver_ended_while_its_cluster_starts_leaves_none_of_its_processes(tmp_path):
    """Ray's agents start about a second into a sweep, before ``ray.init`` returns; a driver
    that ended then (a check failing, a Ctrl-C, a kill) left them running for a minute. Killed
    the moment the raylet has started its first agent, sooner than the watchdog lists it."""
    env = {**os.environ, "KIP_HOME": str(tmp_path)}
    args = [sys.executable, "-m", "platform.sweep", str(REPO / "tests" / "specs" / "tiny.yaml"), "--fresh"]
    driver = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        processes: dict[int, str] = {}
        deadline = time.time() + 60
        while driver.poll() is None and time.time() < deadline:
            processes = descendants(driver.pid)
            raylets = [pid for pid in processes if "raylet" in cmdline(pid)]
            if raylets and children().get(raylets[0]):
                break
            time.sleep(0.005)
        assert any("raylet" in cmdline(pid) for pid in processes), "Ray did not start"
        kill_and_expect_gone(driver, processes)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
