"""A real Ray head node for integration tests, as users start one: `ray start --head --block`.

It runs in its own process group and is stopped by signalling that group: `ray stop` would
kill every Ray cluster on the machine, including a developer's.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Head:
    gcs_address: str  # for `--address` / ray.init
    dashboard_address: str  # for `ray job submit --address`


@contextmanager
def ray_head(
    env: dict[str, str], cpus: int = 2, dashboard: bool = False, agent_port: int | None = None
) -> Iterator[Head]:
    """A head on free ports (tests run two at a time: Ray's fixed defaults would collide), or
    with its job agent on ``agent_port`` (Ray's default 52365, for the test that a sweep's
    local cluster leaves that port to a head beside it)."""
    temp_dir = tempfile.mkdtemp(prefix="kip-ray-", dir="/tmp")  # unix socket paths: <108 bytes
    port, dashboard_port = free_port(), free_port()
    head = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--dashboard-port={dashboard_port}",
            "--dashboard-host=127.0.0.1",
            f"--num-cpus={cpus}",
            f"--dashboard-agent-listen-port={agent_port or free_port()}",
            f"--ray-client-server-port={free_port()}",
            f"--include-dashboard={'true' if dashboard else 'false'}",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
        ],
        env={"AUTOSCALER_METRIC_PORT": "0", "DASHBOARD_METRIC_PORT": "0", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield Head(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard_port}")
    finally:
        # Ray's graceful stop takes its processes one at a time with a wait each (about 35 s
        # in all here), which no test needs: a few seconds to flush, then the group is killed.
        os.killpg(head.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            head.wait(timeout=5)
        with suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)
