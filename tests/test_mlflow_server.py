"""A real ``mlflow server`` as the tracking store: normal use, an outage mid-sweep, a dead store.

The server is started as users start it on a head node (sqlite backend, proxied artifacts,
bound to 127.0.0.1), stopped with SIGKILL (a crash, not a clean shutdown) while a trial
trains, and restarted on the same port and store.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO

pytestmark = pytest.mark.integration
EPOCH_LINE = re.compile(r"^\[sweep\] .*epoch\s+(\d+)/(\d+)")


class MlflowServer:
    """``mlflow server`` in its own process group, restartable on the same port and store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.root / "artifacts"),
        ]
        log = open(self.root / "server.log", "a")  # noqa: SIM115 - the server process owns it
        # without MLflow's job runner: eight more processes (Huey consumers for its GenAI jobs),
        # 3 CPU-s each at every start, that the platform never uses
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.kill()  # never leave a half-started server behind
        raise RuntimeError(f"mlflow server did not start: {(self.root / 'server.log').read_text()[-2000:]}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def server(tmp_path):
    running = MlflowServer(tmp_path)
    running.start()
    yield running
    running.kill()


def start_sweep(tmp_path: Path, cluster: dict[str, str], uri: str, *overrides: str) -> subprocess.Popen:
    sets = [arg for override in overrides for arg in ("--set", override)]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "platform.sweep",
            str(REPO / "tests" / "specs" / "tiny.yaml"),
            "--set",
            "search.grid={objective.name: [ar]}",
            "--set",
            f"tracking.uri={uri}",
            *sets,
        ],
        cwd=REPO,
        env={**os.environ, "KIP_HOME": str(tmp_path / "home"), **cluster},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until_epoch(driver: subprocess.Popen, epoch: int, lines: list[str]) -> None:
    for line in driver.stdout:
        lines.append(line)
        found = EPOCH_LINE.search(line)
        if found and int(found.group(1)) >= epoch:
            return
    tail = "".join(lines)[-3000:]
    raise AssertionError(f"the sweep ended before epoch {epoch}:\n{tail}")


def test_metrics_logged_during_a_server_outage_reach_mlflow(server, tmp_path, shared_cluster):
    epochs = 12
    driver = start_sweep(
        tmp_path,
        shared_cluster,
        server.uri,
        f"train.epochs={epochs}",
        "tracking.experiment=outage",
        "tracking.retry_seconds=180",
    )
    lines: list[str] = []
    read_until_epoch(driver, 2, lines)
    server.kill()  # crash the store while the trial trains
    read_until_epoch(driver, 5, lines)  # training goes on meanwhile
    time.sleep(3)
    server.start()
    rest, _ = driver.communicate(timeout=300)
    output = "".join(lines) + rest
    assert driver.returncode == 0, output[-3000:]
    # the driver's console says what happened, as it happens
    assert "MLflow store unreachable" in output and "MLflow store reachable again" in output, output[-3000:]
    assert f"open {server.uri} in a browser" in output and "mlflow ui --backend-store-uri http" not in output

    client = MlflowClient(tracking_uri=server.uri)
    experiment = client.get_experiment_by_name("outage")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.kind = 'trial'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    steps = sorted({m.step for m in client.get_metric_history(runs[0].info.run_id, "forward_acc")})
    assert steps == list(range(1, epochs + 1))  # nothing measured during the outage is missing
    assert runs[0].data.tags["stop_reason"] == "completed"
    assert "predictions_best_epoch.jsonl" in {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    sweep = client.search_runs([experiment.experiment_id], filter_string="tags.kind = 'sweep'")
    assert len(sweep) == 1 and sweep[0].info.status == "FINISHED"


def test_a_store_that_never_returns_fails_the_trial_loudly(server, tmp_path, shared_cluster):
    driver = start_sweep(
        tmp_path,
        shared_cluster,
        server.uri,
        "train.epochs=6",
        "tracking.experiment=dead-store",
        "tracking.retry_seconds=4",
        "checkpoint.max_failures=0",
    )  # about failing loudly, not about retrying
    lines: list[str] = []
    read_until_epoch(driver, 2, lines)
    server.kill()
    rest, _ = driver.communicate(timeout=300)
    output = "".join(lines) + rest
    assert driver.returncode == 1, output[-3000:]
    assert "FAILED" in output and "1 failed" in output
    assert "unreachable" in output  # the trial's error and the end-of-sweep message say why
    assert "Traceback" not in output.split("\n\n| trial")[-1]  # the table and summary, no stack trace
    table = [line for line in output.splitlines() if line.startswith("| ")][1:]
    assert len(table) == 1 and "error" in table[0]
