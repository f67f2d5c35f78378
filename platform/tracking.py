"""MLflow: one parent run per sweep, one child run per trial, metrics per evaluated epoch.

Why the trial creates its run and its rank 0 logs into it by id (both through their
``platform.run_writer`` process, on the trial's machine): the run exists (and
is marked FINISHED or FAILED) whatever happens inside Ray Train, and metrics reach the store
as each epoch is evaluated, so a crash loses nothing already measured. Runs carry a
``trial_key`` tag: a resumed sweep finds and reuses a trial's run instead of duplicating it.

Every process that talks to the store (the driver, and each trial's writer process:
``platform.run_writer``) holds a ``Tracking``: the store's URI and how long its calls wait out
an outage, built once from the spec and handed along, so no process configures a
module-level setting of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from platform.errors import ServiceUnavailable, UserError, first_line
from platform.paths import state_dir

PARENT_TAG = "mlflow.parentRunId"
PREDICTIONS_FILE = "predictions_best_epoch.jsonl"


def is_transient(error: BaseException) -> bool:
    """A store that is down, restarting or busy (worth retrying), not a rejected request."""
    text = str(error)
    return (
        isinstance(error, (ConnectionError, TimeoutError))
        or ("API request to" in text and "failed with" in text)  # mlflow's wrapper of requests' errors
        or "database is locked" in text
    )


def backoff(seconds: float) -> Iterator[None]:
    """Sleeps of 1, 2, 4 ... 15 s between attempts, yielding after each, for ``seconds`` in all."""
    deadline = time.monotonic() + seconds
    delay = 1.0
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(delay, left))
        delay = min(delay * 2, 15.0)
        yield


def retrying(action: Callable[[], Any], uri: str, seconds: float) -> Any:
    """``action()``, retried with backoff while the store at ``uri`` is unreachable.

    Gives up after ``seconds`` (``tracking.retry_seconds``) with ``ServiceUnavailable``.
    """
    waits = backoff(seconds)
    while True:
        try:
            return action()
        except Exception as error:
            if not is_transient(error):
                raise
            if next(waits, "out of time") == "out of time":
                raise ServiceUnavailable(
                    f"MLflow store {redact(uri)} unreachable for {seconds:.0f} s (tracking.retry_seconds): "
                    f"{first_line(error).replace(uri, redact(uri))[:300]}"
                ) from None


class RetryingClient:
    """An ``MlflowClient`` whose calls wait out a store outage (see ``retrying``)."""

    def __init__(self, uri: str, retry_seconds: float) -> None:
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(tracking_uri=uri)
        self._uri = uri
        self._retry_seconds = retry_seconds

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method
        return lambda *args, **kwargs: retrying(lambda: method(*args, **kwargs), self._uri, self._retry_seconds)


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


def browse_hint(uri: str) -> str:
    """How to look at the runs, runnable as printed: a local store needs ``mlflow ui`` (from the
    platform's own environment, which may not be on PATH); a server is already a UI."""
    if uri.startswith(("http://", "https://")):
        return f"open {redact(uri)} in a browser"
    if redact(uri) != uri:  # credentials in the URI: not printed, the variable holds them
        return 'browse with:\n  mlflow ui --backend-store-uri "$MLFLOW_TRACKING_URI" --host 127.0.0.1 --port 5000'

    mlflow = Path(sys.executable).with_name("mlflow")
    command = (
        os.path.relpath(mlflow)
        if mlflow.exists() and not os.path.relpath(mlflow).startswith("..")
        else f"{sys.executable} -m mlflow"
    )
    return f"browse with:\n  {command} ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000"


def redact(uri: str) -> str:
    """The URI as printed: credentials in it (``https://user:token@host``) are masked."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Tracking:
    """One MLflow store: its URI and how long calls wait out an outage before failing."""

    uri: str
    retry_seconds: float = 300.0
    """``tracking.retry_seconds`` of the spec."""

    @classmethod
    def from_spec(cls, spec) -> Tracking:
        """The spec's store (``tracking.uri``, else ``MLFLOW_TRACKING_URI``, else the local one)."""
        return cls(tracking_uri(spec.tracking.uri), spec.tracking.retry_seconds)

    def waiting_at_most(self, seconds: float) -> Tracking:
        """The same store, with calls that give up sooner (after a Ctrl-C, say)."""
        return replace(self, retry_seconds=min(seconds, self.retry_seconds))

    @property
    def shown(self) -> str:
        """The URI as printed (credentials masked)."""
        return redact(self.uri)

    def client(self) -> RetryingClient:
        return RetryingClient(self.uri, self.retry_seconds)

    def check_reachable(self, experiment: str) -> str:
        return check_reachable(self.uri, experiment)

    def artifacts_at_risk(self, experiment_id: str) -> str | None:
        """Why the experiment's runs may lose their files, if they may: an experiment created
        before ``artifact_location`` existed, by a driver that ran in Ray's copy of the checkout.
        Only a sqlite store took its folder from the driver: other stores are not asked."""
        if not self.uri.startswith("sqlite:///"):
            return None
        experiment = self.client().get_experiment(experiment_id)
        location = experiment.artifact_location or ""
        if "/runtime_resources/working_dir_files/" not in location:
            return None
        return (
            f"experiment {experiment.name!r} keeps its runs' files (tables, predictions, reports) in {location}, "
            "a copy of the checkout that Ray deletes; a new tracking.experiment keeps them beside the MLflow store"
        )

    def find_run(self, experiment_id: str, tag: str, value: str, kind: str | None = None) -> str | None:
        """The active run whose ``tag`` is ``value`` (and whose ``kind`` tag is ``kind``, if given)."""
        query = f"tags.{tag} = '{value}'" + (f" and tags.kind = '{kind}'" if kind else "")
        runs = self.client().search_runs([experiment_id], filter_string=query, max_results=1)
        return runs[0].info.run_id if runs else None

    def start_sweep_run(
        self, experiment_id: str, sweep_id: str, name: str, spec_dump: dict[str, Any], fresh: bool = False
    ) -> str:
        """The sweep's parent run: reused when the sweep resumes; a new one for ``--fresh``.

        A fresh start keeps the old run and its trials (nothing is deleted) but retags it
        ``kind=superseded-sweep``, so reports and resumes by sweep id see only the new attempt.
        """
        client = self.client()
        existing = self.find_run(experiment_id, "sweep_id", sweep_id, kind="sweep")  # trials carry sweep_id too
        if existing and fresh:
            client.set_tag(existing, "kind", "superseded-sweep")
        elif existing:
            client.update_run(existing, status="RUNNING")
            return existing
        run = client.create_run(experiment_id, run_name=name, tags={"sweep_id": sweep_id, "kind": "sweep"})
        client.log_text(run.info.run_id, yaml.safe_dump(spec_dump, sort_keys=False), "sweep_spec.yaml")
        return run.info.run_id

    def start_trial_run(
        self,
        experiment_id: str,
        parent_id: str,
        trial_key: str,
        name: str,
        spec_dump: dict[str, Any],
        tags: dict[str, str],
        resume_after: int | None = None,
    ) -> str:
        """A trial's child run. A rerun of an unfinished trial that starts over (after a resume)
        replaces the partial run, so each trial has exactly one visible run and its metric
        histories are not mixed; one that continues from a checkpoint of ``resume_after``
        completed epochs continues its run (its history past that epoch, logged by an attempt
        whose checkpoint was lost, is dropped: see ``_truncated_copy``); a finished run is
        reused as it is."""
        client = self.client()
        existing = self.find_run(experiment_id, "trial_key", trial_key)
        if existing and resume_after is not None:  # the trial continues from its checkpoint: so does its history
            if any(m.step > resume_after for m in client.get_metric_history(existing, "epoch")):
                return self._truncated_copy(existing, resume_after)
            client.update_run(existing, status="RUNNING")
            return existing
        if existing and client.get_run(existing).info.status == "FINISHED":
            # The trial ended but the killed driver had not saved that in Tune's state: Tune
            # restarts it, Ray Train restores its final checkpoint and logs nothing new, so the
            # complete run is kept (replacing it would leave an empty history).
            client.update_run(existing, status="RUNNING")
            return existing
        if existing:
            client.delete_run(existing)
        run = client.create_run(
            experiment_id, run_name=name, tags={PARENT_TAG: parent_id, "trial_key": trial_key, "kind": "trial", **tags}
        )
        run_id = run.info.run_id
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in flatten(spec_dump).items()]
        for start in range(0, len(items), 100):
            client.log_batch(run_id, params=items[start : start + 100])
        client.log_text(run_id, yaml.safe_dump(spec_dump, sort_keys=False), "resolved_spec.yaml")
        return run_id

    def _truncated_copy(self, run_id: str, epochs: int) -> str:
        """A copy of the run as it was after ``epochs`` epochs; the original is deleted.

        Why: a killed driver may lose the record of a checkpoint that its trial had already
        logged the epoch of; the trial resumes from the checkpoint before, and would log that
        epoch again beside the lost attempt's values. MLflow cannot delete metric points, so
        the run is rebuilt: tags, params, artifacts, and each curve up to ``epochs`` (system
        metrics whole: their steps count samples, not epochs)."""
        import tempfile

        from mlflow.entities import Metric, Param, RunTag

        client = self.client()
        old = client.get_run(run_id)
        tags = {k: v for k, v in old.data.tags.items() if k == PARENT_TAG or not k.startswith("mlflow.")}
        new_id = client.create_run(old.info.experiment_id, run_name=old.info.run_name, tags=tags).info.run_id
        params = [Param(k, v) for k, v in old.data.params.items()]
        for start in range(0, len(params), 100):
            client.log_batch(new_id, params=params[start : start + 100])
        points = [
            Metric(m.key, m.value, m.timestamp, m.step)
            for key in old.data.metrics
            for m in client.get_metric_history(run_id, key)
            if m.step <= epochs or key.startswith("system/")
        ]
        for start in range(0, len(points), 1000):
            client.log_batch(new_id, metrics=points[start : start + 1000])
        lost_best = any(m.step > epochs for m in client.get_metric_history(run_id, "best_epoch"))
        with tempfile.TemporaryDirectory() as scratch:
            for artifact in client.list_artifacts(run_id):
                if lost_best and artifact.path == PREDICTIONS_FILE:
                    continue  # the lost epoch's: the resumed trial logs its best epoch's again
                client.log_artifact(new_id, client.download_artifacts(run_id, artifact.path, scratch))
        client.log_batch(new_id, tags=[RunTag("resumed_after_epoch", str(epochs))])
        client.delete_run(run_id)
        return new_id

    def log_text(self, run_id: str, text: str, name: str) -> None:
        self.client().log_text(run_id, text, name)

    def end_run(self, run_id: str, status: str, error: str | None = None) -> None:
        client = self.client()
        if error:
            client.set_tag(run_id, "error", error[:5000])
        client.set_terminated(run_id, status=status)

    def trial_logger(self, run_id: str) -> TrialLogger:
        """What a trial's writer process logs its epochs with (``TrialLogger``)."""
        return TrialLogger(self, run_id)

    def close_interrupted_trials(self, experiment_id: str, parent_id: str, since: float | None = None) -> set[str]:
        """After a Ctrl-C at time ``since``: the sweep's trial runs still RUNNING (their trial was
        stopped mid-way, from outside) are marked KILLED with the reason; returns their trial ids."""
        client = self.client()
        stopped = set()
        for run in client.search_runs([experiment_id], filter_string=f"tags.{PARENT_TAG} = '{parent_id}'"):
            # a trial stopped from outside is left RUNNING, or FAILED by its own handler when the
            # stop reached it (its controller or workers died under it: which error surfaces first
            # is a race); either way it was interrupted, not broken. A terminal's Ctrl-C reaches the
            # trial's processes as it reaches the driver, whose handler may run a little later:
            # hence the slack. A real failure in that moment is resumed by the rerun and reported there.
            died = (
                run.info.status == "FAILED"
                and since is not None
                and (run.info.end_time or 0) >= (since - INTERRUPT_SLACK_S) * 1000
            )
            if run.info.status != "RUNNING" and not died:
                continue
            client.set_tag(run.info.run_id, "stop_reason", INTERRUPTED)
            self.end_run(run.info.run_id, "KILLED")
            stopped.add(run.data.tags.get("trial_key", "").rsplit("/", 1)[-1])
        return stopped

    def fail_running_trials(self, experiment_id: str, parent_id: str, error: str) -> None:
        """The sweep's trial runs still RUNNING when the driver itself failed (the disk filled
        under Tune's own state before a trial could mark its run): FAILED, with the driver's error."""
        for run in self.client().search_runs([experiment_id], filter_string=f"tags.{PARENT_TAG} = '{parent_id}'"):
            if run.info.status == "RUNNING":
                self.end_run(run.info.run_id, "FAILED", error)

    def log_sweep_table(self, parent_id: str, paths: dict[str, str], summary: dict[str, float]) -> None:
        """Attach the sweep's results table (Markdown and CSV) to its parent run, with its summary
        metrics (the best trial per objective), so the parent row of the UI answers the sweep."""
        from mlflow.entities import Metric

        client = self.client()
        for path in paths.values():
            client.log_artifact(parent_id, path)
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, 0) for key, value in summary.items() if math.isfinite(value)]
        for start in range(0, len(metrics), 100):
            client.log_batch(parent_id, metrics=metrics[start : start + 100])


def check_reachable(uri: str, experiment: str) -> str:
    """Create or find the experiment now, so an unreachable server fails before any training."""
    if uri.startswith("file://"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if uri.startswith("http"):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        with _store_setup_lock(uri):
            return _experiment_id(uri, experiment)
    except Exception as error:  # noqa: BLE001 - any failure here means the store is unusable
        raise UserError(
            f"cannot reach the MLflow tracking store {redact(uri)!r}: {short_reason(error, uri)}", where="tracking.uri"
        ) from None


def check_store_answers(uri: str) -> None:
    """The dry run's check of the store, which changes nothing: a local store's folder is
    writable (the database is created by the run), a server answers a read."""
    where = "tracking.uri"
    local = (
        uri.removeprefix("sqlite:///")
        if uri.startswith("sqlite:///")
        else uri.removeprefix("file://")
        if uri.startswith("file://")
        else None
    )
    if local is not None:
        folder = Path(local).parent if uri.startswith("sqlite:") else Path(local)
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is None or not os.access(existing, os.W_OK):
            raise UserError(f"cannot write the MLflow store {uri!r} ({existing} is not writable)", where=where)
        return
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as error:  # noqa: BLE001 - any failure here means the store is unusable
        raise UserError(
            f"cannot reach the MLflow tracking store {redact(uri)!r}: {short_reason(error, uri)}", where=where
        ) from None


_NETWORK_REASONS = (
    "Connection refused",
    "Name or service not known",
    "timed out",
    "No route to host",
    "Connection reset",
)


def short_reason(error: BaseException, uri: str) -> str:
    """One short clause for why a store failed: the network reason under urllib3's retry
    chatter ("Max retries exceeded with url: ... (Caused by NewConnectionError(...")), else the
    error's first line, at most 200 characters, credentials redacted."""
    text = str(error)
    reason = next((r for r in _NETWORK_REASONS if r in text), None)
    if reason:
        return f"{reason.lower()} (is the MLflow server running at that address?)"
    line = first_line(error).replace(uri, redact(uri))
    return line if len(line) <= 200 else line[:197] + "..."


@contextlib.contextmanager
def _store_setup_lock(uri: str) -> Iterator[None]:
    """Serialise a local sqlite store's first use: two drivers creating its tables (or the same
    experiment) at once otherwise collide (``table _alembic_tmp_experiments already exists``)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    path = uri.removeprefix("sqlite:///")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _experiment_id(uri: str, name: str) -> str:
    from mlflow.tracking import MlflowClient

    mlflow_client = MlflowClient(tracking_uri=uri)  # no retries: report a dead store at once
    found = mlflow_client.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    try:
        # a model-training experiment: the UI opens on its runs, not on the GenAI traces overview
        return mlflow_client.create_experiment(
            name, artifact_location=artifact_location(uri, name), tags={EXPERIMENT_KIND_TAG: "custom_model_development"}
        )
    except Exception:  # another driver created it a moment ago (a server store): use theirs
        found = mlflow_client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment of a sqlite store keeps its artifacts: a folder beside the database.

    MLflow's own default is ``./mlruns`` of whichever process creates the experiment. A driver
    submitted with ``ray job submit --working-dir`` runs in Ray's unpacked copy of the checkout
    under the session's temporary directory, which Ray garbage-collects once no job uses it: the
    results tables, predictions and reports would go with it while the database that points at
    them stays. Run ids are unique, so experiments whose names map to the same folder never
    share a run's files. Other stores decide for themselves (a file store keeps artifacts inside
    itself, a server has its artifact root).
    """
    if not uri.startswith("sqlite:///"):
        return None
    folder = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment).strip("._") or "experiment"
    database = Path(unquote(uri.removeprefix("sqlite:///")))
    if not database.is_absolute():  # only ``tracking_uri``'s absolute paths have a fixed folder
        return None
    return (database.parent / "mlruns" / folder).as_uri()


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


BEST_KEYS = (
    "forward_acc",
    "backward_acc",
    "mean_acc",
    "selection_acc",
    "val_forward_acc",
    "val_backward_acc",
    "val_mean_acc",
)
"""Logged again as ``best_<key>`` (and ``best_epoch``) whenever the selection accuracy improves."""


SYSTEM_METRICS_SECONDS = 10
"""How often MLflow samples a trial's machine (``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` overrides)."""


def _start_system_metrics(uri: str, run_id: str):
    """MLflow's system metrics on the trial's run (``system/cpu_utilization_percentage``,
    memory, disk, network; GPU utilisation and memory where NVML finds GPUs), sampled in a
    thread of the trial's writer process, on the machine of its rank 0: the machine as the
    trial saw it, next to its curves. Best effort: a store that is down stops the sampling,
    never the trial. ``resume_logging`` continues the steps after a worker restart."""
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(
            run_id, sampling_interval=SYSTEM_METRICS_SECONDS, resume_logging=True, tracking_uri=uri
        )
        monitor.start()
        return monitor
    except Exception:  # noqa: BLE001 - no system metrics is not worth a failed trial
        return None


class TrialLogger:
    """Used by a trial's writer process (``platform.run_writer``): per-epoch metrics, and the
    best epoch's predictions.

    Writes are queued and sent in order. While the store is unreachable (a restarting MLflow
    server) training goes on and the queue grows; each later epoch tries again, and ``close``
    waits up to ``tracking.retry_seconds`` for the store before failing the trial loudly. So a
    metric is either in MLflow or its trial is FAILED with the epochs it could not log.
    """

    def __init__(self, tracking: Tracking, run_id: str) -> None:
        from mlflow.tracking import MlflowClient

        # Retries are this class's own (the queue): a failed send must return at once, not
        # after MLflow's own minutes of backoff, so training goes on during an outage.
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
        self.client = MlflowClient(tracking_uri=tracking.uri)
        self.tracking = tracking
        self.run_id = run_id
        self.best = -math.inf
        self.pending: list[tuple[str, Callable[[], Any]]] = []
        self.outage_since: float | None = None
        self.system_metrics = _start_system_metrics(tracking.uri, run_id)

    def log_epoch(self, metrics: dict[str, float], epoch: int, predictions: list[dict[str, Any]]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(key.replace("/", "."), float(value), now, epoch)
            for key, value in metrics.items()
            if isinstance(value, (int, float)) and math.isfinite(value)
        ]
        mean = metrics.get("selection_acc", -math.inf)
        improved = mean > self.best
        if improved:
            self.best = mean
            # the result so far as metrics of its own, logged first (the UI's run list and
            # compare page show them first): the best epoch, the paper's number, not the last
            best = [Metric(f"best_{key}", float(metrics[key]), now, epoch) for key in BEST_KEYS if key in metrics]
            items = [*best, Metric("best_epoch", float(epoch), now, epoch), *items]
        self.pending.append((f"epoch {epoch} metrics", lambda: self.client.log_batch(self.run_id, metrics=items)))
        if improved:
            text = "".join(json.dumps({**p, "epoch": epoch}) + "\n" for p in predictions)
            self.pending = [item for item in self.pending if item[0] != "predictions"]  # only the best counts
            self.pending.append(("predictions", lambda: self.client.log_text(self.run_id, text, PREDICTIONS_FILE)))
        self.flush()

    def restore_best(self, selection: float, best: dict[str, float]) -> None:
        """A resumed trial (a new run): its best epoch so far, as ``best_*`` metrics again."""
        from mlflow.entities import Metric

        self.best = selection
        if "epoch" not in best:
            return
        now, epoch = int(time.time() * 1000), int(best["epoch"])
        items = [Metric(f"best_{key}", float(value), now, epoch) for key, value in best.items() if key != "epoch"]
        items.append(Metric("best_epoch", float(epoch), now, epoch))
        self.pending.append((f"best epoch {epoch} metrics", lambda: self.client.log_batch(self.run_id, metrics=items)))

    def set_stop_reason(self, reason: str) -> None:
        self.pending.append(("stop reason", lambda: self.client.set_tag(self.run_id, "stop_reason", reason)))

    def flush(self) -> bool:
        """Send what is queued, in order; False (and the rest kept) if the store is unreachable."""
        while self.pending:
            try:
                self.pending[0][1]()
            except Exception as error:
                if not is_transient(error):
                    raise
                if self.outage_since is None:
                    self.outage_since = time.monotonic()
                    print(
                        f"[trial] MLflow store {self.tracking.shown} unreachable; queueing metrics and retrying",
                        file=sys.stderr,
                        flush=True,
                    )
                return False
            self.pending.pop(0)
        if self.outage_since is not None:
            print(
                f"[trial] MLflow store reachable again after {time.monotonic() - self.outage_since:.0f} s; queued "
                "metrics sent",
                file=sys.stderr,
                flush=True,
            )
            self.outage_since = None
        return True

    def close(self) -> None:
        """Send everything queued, waiting out an outage for up to ``tracking.retry_seconds``."""
        if self.system_metrics is not None:
            with contextlib.suppress(Exception):  # best effort, like the samples themselves
                monitor = self.system_metrics
                monitor.finish()
                # one last sample at the end: a trial shorter than the sampling interval gets one too
                monitor.collect_metrics()
                monitor.publish_metrics(monitor.aggregate_metrics())
                monitor.mlflow_logger.flush()
        waits = backoff(self.tracking.retry_seconds)
        while not self.flush():
            if next(waits, "out of time") == "out of time":
                lost = ", ".join(name for name, _ in self.pending)
                raise ServiceUnavailable(
                    f"MLflow store {self.tracking.shown} unreachable for {self.tracking.retry_seconds:.0f} s "
                    f"(tracking.retry_seconds); not logged: {lost}"
                )


INTERRUPT_SLACK_S = 10.0
"""A trial run that FAILED this long before the driver saw the Ctrl-C still counts as interrupted."""

INTERRUPTED = "interrupted (Ctrl-C); the rerun of the same command resumes it from its last checkpoint"
