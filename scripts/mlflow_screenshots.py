"""Screenshots of the MLflow UI as a researcher opens it after a sweep (headless Chromium).

    .venv/bin/python scripts/mlflow_screenshots.py --experiment lr --out docs/img
    .venv/bin/python scripts/mlflow_screenshots.py --store sqlite:////path/mlflow.db --experiment lr

Starts ``mlflow ui`` on the store (loopback, a free port), then renders three pages to PNG:
the experiment's run list (``runs.png``), its chart view (``charts.png``) and the compare page
of the sweep's trial runs (``compare.png``). Needs Debian's ``chromium`` (``apt-get install
chromium``); the browser runs with its background networking off (no traffic leaves this
machine). Why a script and not only a test: what the UI shows first is judged by looking.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=2200,1100",
    "--virtual-time-budget=45000",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"mlflow ui did not answer at {url} within {seconds:.0f} s")


def screenshot(browser: str, url: str, path: Path) -> Path:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={path}", url],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return path


def main(argv: list[str] | None = None) -> int:
    from mlflow.tracking import MlflowClient

    from platform import tracking

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=None, help="MLflow store URI (default: the platform's local store)")
    parser.add_argument("--experiment", required=True, help="experiment name (the spec's tracking.experiment)")
    parser.add_argument("--out", default="docs/img", help="folder for the PNG files")
    args = parser.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    uri = tracking.tracking_uri(args.store)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        raise SystemExit(f"no experiment {args.experiment!r} in {uri}")
    sweep = client.search_runs(
        [experiment.experiment_id], "tags.kind = 'sweep'", order_by=["attributes.start_time DESC"], max_results=1
    )
    trials = (
        client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{sweep[0].info.run_id}'")
        if sweep
        else []
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [str(mlflow), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/health")
        pages = {
            # sorted by the best epoch's mean accuracy: the run list then shows that column
            "runs.png": f"{base}/#/experiments/{experiment.experiment_id}/runs"
            f"?orderByKey={urllib.parse.quote('metrics.`best_mean_acc`')}&orderByAsc=false",
            "charts.png": f"{base}/#/experiments/{experiment.experiment_id}/runs?compareRunsMode=CHART",
        }
        if trials:
            ids = json.dumps([r.info.run_id for r in trials])
            pages["compare.png"] = (
                f"{base}/#/compare-runs?runs={urllib.parse.quote(ids)}&experiments={urllib.parse.quote(json.dumps([experiment.experiment_id]))}"
            )
        for name, url in pages.items():
            print(screenshot(browser, url, out / name))
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
