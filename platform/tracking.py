"""MLflow: one parent run per sweep, one child run per trial, metrics per evaluated epoch.

Why the trial creates its run and the rank-0 worker logs into it by id: the run exists (and
is marked FINISHED or FAILED) whatever happens inside Ray Train, and metrics reach the store
as each epoch is evaluated, so a crash loses nothing already measured. Runs carry a
``trial_key`` tag: a resumed sweep finds and reuses a trial's run instead of duplicating it.
"""

from __future__ import annotations

import io
import json
import math
import os
from typing import Any

import yaml

from platform.errors import UserError
from platform.paths import state_dir

PARENT_TAG = "mlflow.parentRunId"


def tracking_uri(configured: str | None) -> str:
    """Spec value, else ``MLFLOW_TRACKING_URI``, else an absolute sqlite store in the state dir.

    Absolute because Ray Tune trials and Train workers change directory.
    """
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return f"sqlite:///{state_dir() / 'mlflow.db'}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{os.path.abspath(uri.removeprefix('sqlite:///'))}"
    if "://" not in uri:  # a bare path means a file store directory
        return f"file://{os.path.abspath(uri)}"
    return uri


def redact(uri: str) -> str:
    """The URI as printed: credentials in it (``https://user:token@host``) are masked."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def check_reachable(uri: str, experiment: str) -> str:
    """Create or find the experiment now, so an unreachable server fails before any training."""
    if uri.startswith("file://"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if uri.startswith("http"):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        mlflow_client = client(uri)
        found = mlflow_client.get_experiment_by_name(experiment)
        return found.experiment_id if found else mlflow_client.create_experiment(experiment)
    except Exception as error:  # noqa: BLE001 - any failure here means the store is unusable
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot reach the MLflow tracking store {redact(uri)!r}: {first_line.replace(uri, redact(uri))}", where="tracking.uri") from None


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted-path params (``train.lr``), values as readable strings (MLflow keeps 6000 chars)."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = str(value)[:6000]
    return flat


def find_run(uri: str, experiment_id: str, tag: str, value: str, kind: str | None = None) -> str | None:
    """The active run whose ``tag`` is ``value`` (and whose ``kind`` tag is ``kind``, if given)."""
    query = f"tags.{tag} = '{value}'" + (f" and tags.kind = '{kind}'" if kind else "")
    runs = client(uri).search_runs([experiment_id], filter_string=query, max_results=1)
    return runs[0].info.run_id if runs else None


def start_sweep_run(uri: str, experiment_id: str, sweep_id: str, name: str, spec_dump: dict[str, Any]) -> str:
    """The sweep's parent run (reused when the sweep resumes)."""
    existing = find_run(uri, experiment_id, "sweep_id", sweep_id, kind="sweep")  # trials carry sweep_id too
    if existing:
        client(uri).update_run(existing, status="RUNNING")
        return existing
    run = client(uri).create_run(experiment_id, run_name=name, tags={"sweep_id": sweep_id, "kind": "sweep"})
    client(uri).log_text(run.info.run_id, yaml.safe_dump(spec_dump, sort_keys=False), "sweep_spec.yaml")
    return run.info.run_id


def start_trial_run(
    uri: str, experiment_id: str, parent_id: str, trial_key: str, name: str, spec_dump: dict[str, Any], tags: dict[str, str]
) -> str:
    """A trial's child run. A rerun of an unfinished trial (after a resume) replaces the partial
    run, so each trial has exactly one visible run and its metric histories are not mixed."""
    mlflow_client = client(uri)
    existing = find_run(uri, experiment_id, "trial_key", trial_key)
    if existing:
        mlflow_client.delete_run(existing)
    run = mlflow_client.create_run(
        experiment_id, run_name=name, tags={PARENT_TAG: parent_id, "trial_key": trial_key, "kind": "trial", **tags}
    )
    run_id = run.info.run_id
    from mlflow.entities import Param

    params = flatten(spec_dump)
    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), 100):
        mlflow_client.log_batch(run_id, params=items[start : start + 100])
    mlflow_client.log_text(run_id, yaml.safe_dump(spec_dump, sort_keys=False), "resolved_spec.yaml")
    return run_id


def log_text(uri: str, run_id: str, text: str, name: str) -> None:
    client(uri).log_text(run_id, text, name)


def end_run(uri: str, run_id: str, status: str, error: str | None = None) -> None:
    mlflow_client = client(uri)
    if error:
        mlflow_client.set_tag(run_id, "error", error[:5000])
    mlflow_client.set_terminated(run_id, status=status)


class TrialLogger:
    """Used by the rank-0 worker: per-epoch metrics, and the best epoch's predictions."""

    def __init__(self, uri: str, run_id: str) -> None:
        self.client = client(uri)
        self.run_id = run_id
        self.best = -math.inf

    def log_epoch(self, metrics: dict[str, float], epoch: int, predictions: list[Any]) -> None:
        from mlflow.entities import Metric

        now = int(__import__("time").time() * 1000)
        items = [
            Metric(key.replace("/", "."), float(value), now, epoch)
            for key, value in metrics.items()
            if isinstance(value, (int, float)) and math.isfinite(value)
        ]
        self.client.log_batch(self.run_id, metrics=items)
        mean = metrics.get("selection_acc", -math.inf)
        if mean > self.best:
            self.best = mean
            buffer = io.StringIO()
            for p in predictions:
                buffer.write(json.dumps({**p.__dict__, "epoch": epoch}) + "\n")
            self.client.log_text(self.run_id, buffer.getvalue(), "predictions_best_epoch.jsonl")

    def set_stop_reason(self, reason: str) -> None:
        self.client.set_tag(self.run_id, "stop_reason", reason)


def log_sweep_table(uri: str, parent_id: str, paths: dict[str, str]) -> None:
    """Attach the sweep's results table (Markdown and CSV) to its parent run."""
    mlflow_client = client(uri)
    for path in paths.values():
        mlflow_client.log_artifact(parent_id, path)
