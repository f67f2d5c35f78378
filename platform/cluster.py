"""The Ray cluster a sweep runs on: a local one it starts, or an existing one it joins.

Why a module of its own: how the local cluster is started is a security and robustness
decision, made in one place. Ray 2.60's defaults for ``ray.init()`` without an address would
have every process (GCS, raylet, workers, agents, metrics) listen on all interfaces, the
dashboard agent and two metrics servers on fixed ports (a ``ray start --head`` beside the
sweep then cannot start its job agent), and the dashboard and runtime-env agents outlive a
killed driver by a minute. So the local cluster is started:

- on loopback only: Ray's single-machine mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, the
  default on macOS and Windows) makes 127.0.0.1 the node address, and every server binds it;
  other machines cannot join, which a local cluster never wants;
- with Ray's token authentication on, unless the user turned it off (``RAY_AUTH_MODE=disabled``):
  the token lives in ``~/.ray/auth_token`` (created 0600 if missing), and a client without it
  is refused even over loopback;
- on free ports: the dashboard agent's and its metrics server's ports are picked by the OS
  (the autoscaler's metrics server, on 44217, is not started: one machine has nothing to scale);
- without the processes it has no use for: the log and autoscaler monitors, the API server,
  idle workers prestarted without the sweep's runtime env (``_local_ray_params``,
  ``one_machine_settings``);
- with a watchdog: a small process outside the driver's process group that, when the driver
  is gone (its pipe closes, even after SIGKILL), ends every process the driver started;
- in the background (``LocalClusterStart``), from the moment the arguments parse, while the
  driver loads and checks the spec: starting it takes 3-4 s, the checks (spec, objectives,
  corpus, MLflow store) about as long, and Ray's processes mostly run on the other core.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from platform import REPO_ROOT

RUNTIME_EXCLUDES = [
    ".venv/",
    "venv/",
    ".git/",
    "results/",
    "reports/",
    "mlflow.db",
    "mlruns/",
    "*.pyc",
    "__pycache__/",
    ".cache/",
]
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
PREEMPTION_WATCHER = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"

_watchdog: subprocess.Popen | None = None


def runtime_env() -> dict[str, Any] | None:
    """Ship the checkout to every Ray worker unless the job already did (``--working-dir``)."""
    job = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}") or "{}")
    if (job.get("runtime_env") or {}).get("working_dir"):
        return None
    return {"working_dir": REPO_ROOT, "excludes": RUNTIME_EXCLUDES, "env_vars": {"TOKENIZERS_PARALLELISM": "false"}}


def init_ray(address: str | None) -> None:
    """Join ``address`` (or ``RAY_ADDRESS``), else start a local cluster; once per process."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    # RUNTIME_EXCLUDES names Ray's default excludes itself: without this, Ray warns on every
    # start that .git and .venv "are now ignored by default"
    os.environ.setdefault("RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES", "")
    # Tune saves its experiment state (which trials ended) every few seconds by default; a
    # driver killed in between reruns finished trials on resume. Save at most once a second.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    # Tune also snapshots whenever a trial has saved num_to_keep checkpoints, and warns when that
    # happens often: with seconds-long trials it does, and the snapshots are what resuming needs
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    from platform import logs

    kwargs: dict[str, Any] = {
        "runtime_env": runtime_env(),
        "logging_level": "WARNING",
        "log_to_driver": logs.worker_logs_shown(),
    }
    address = address or os.environ.get("RAY_ADDRESS")

    if address:
        ray.init(address=address, **kwargs)
    else:
        _local_cluster_settings()
        # first: Ray's agents start a second before ray.init returns, and a driver whose check
        # fails meanwhile must not leave them behind (they outlive it by a minute)
        _start_watchdog()
        ray.init(include_dashboard=False, **kwargs)
    logs.reapply()  # ray.init reconfigures logging, resetting the levels of its loggers


class LocalClusterStart:
    """``init_ray`` for a local cluster, begun on a thread of its own so that it overlaps the
    checks the driver runs before any trial; ``wait`` is where the driver needs Ray.

    Why the thread never ends: Ray's processes (GCS, raylet, agents) are started with
    ``PR_SET_PDEATHSIG``, which Linux fires when the *thread* that started them exits, so they
    live as long as it does, the driver's whole life. A check that fails after ``begin`` ends
    the process with its error as before; the cluster goes with it (its thread, the watchdog).
    With an address (``--address``, ``RAY_ADDRESS``) there is nothing to start: ``wait`` joins.
    """

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def begin(self) -> None:
        import ray  # here, not on the thread: the checks import beside it, Ray's modules are loaded

        if self.address or os.environ.get("RAY_ADDRESS") or ray.is_initialized() or self._thread:
            return
        # what ray.init does on the main thread only: SIGTERM exits through atexit (ray.shutdown);
        # so its warning from the thread, "SIGTERM handler is not set", is not true here
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
        logging.getLogger("ray._private.worker").addFilter(
            lambda record: not record.getMessage().startswith("SIGTERM handler is not set")
        )
        self._thread = threading.Thread(target=self._run, name="ray-local-cluster", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            init_ray(None)
        except BaseException as error:  # re-raised on the main thread, by wait()
            self._error = error
        finally:
            self._started.set()
        threading.Event().wait()  # the cluster's processes live as long as this thread

    def wait(self) -> None:
        """Ray initialised: the background start finished (its error raised here), or ``address`` joined."""
        if self._thread is None:
            init_ray(self.address)
            return
        self._started.wait()
        if self._error is not None:
            raise self._error


def leave_joined_cluster() -> None:
    """Disconnect from a cluster this driver joined (``--address``), before ``cli.exit_now``; a
    local cluster is not stopped: its processes end with the driver (``LocalClusterStart``)."""
    ray = sys.modules.get("ray")  # not imported: nothing to leave (an error before Ray)
    if ray is not None and ray.is_initialized() and _watchdog is None:
        ray.shutdown()


def one_machine_settings() -> dict[str, str]:
    """Ray's settings for a cluster on one machine, as environment variables for its processes:
    a sweep's local cluster takes each unless the user set it, and the tests' shared head too."""
    return {
        # Each trial starts several processes (trial, controller, worker, stream): the raylet's
        # default limit of one starting worker per CPU made it warn "8, 10, 12 PYTHON worker
        # processes have been started" on every 2-core sweep, and start them one CPU's worth at a time.
        "RAY_worker_maximum_startup_concurrency": str(max(16, os.cpu_count() or 1)),
        # The raylet waits for its dashboard agent (a Python process) to write its port, then aborts
        # ("Timed out waiting for file .../metrics_agent_port_*"): on 2 cores busy with another
        # sweep's training that took over 16 s and failed the sweep before its first trial. Ray's own
        # wait for the raylet is 30 s: give the agent up to that.
        "RAY_agent_register_timeout_ms": "30000",
        # One machine has no node to drain: Ray Train's preemption watcher (an actor per multi-worker
        # trial, polling the drain state every 5 s) would cost each such trial a process start
        PREEMPTION_WATCHER: "0",
        # The raylet prestarts a worker per CPU for the first driver, without the job's runtime
        # env, so a sweep's trials (which have one: the checkout) never run in them: two Python
        # processes importing Ray while the driver checks the spec, for nothing
        # (benchmarks/FINDINGS.md #12)
        "RAY_prestart_worker_first_driver": "0",
    }


def _local_cluster_settings() -> None:
    """Loopback, a token, free ports: set before the local cluster's processes start (they,
    and the workers they start, inherit the environment)."""
    import ray._private.ray_constants as ray_constants

    os.environ.setdefault(LOOPBACK_ONLY, "0")
    ray_constants.ENABLE_RAY_CLUSTER = os.environ[LOOPBACK_ONLY] not in ("0", "false", "False")
    os.environ.setdefault("DASHBOARD_METRIC_PORT", "0")  # 0: the OS picks a free port (default 44227)
    for variable, value in one_machine_settings().items():
        os.environ.setdefault(variable, value)
    if os.environ.get("RAY_AUTH_MODE", "token") != "disabled":
        ensure_token()  # ray.init then turns token mode on itself (it must: its config is cached)
    _local_ray_params()


def ensure_token() -> Path | None:
    """The token Ray's clients present: ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, or
    ``~/.ray/auth_token``, created readable by this user only when there is none."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return None
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if path.is_file() and path.read_text().strip():
        return path
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_hex(32))
    return path


def _local_ray_params() -> None:
    """What Ray 2.60's ``ray.init`` has no option for, set on its private ``RayParams`` (the
    parameters of the node it starts) and ``Node`` (which starts the node's processes);
    ``tests/test_local_cluster.py`` fails if this stops taking effect:

    - the dashboard agent's port, fixed at 52365, where a ``ray start --head`` on the same
      machine wants its job agent: 0 asks the OS for a free one;
    - no log monitor unless ``--verbose``: it tails every worker's log files to publish their
      lines to drivers, and a quiet driver takes none (a trial's errors reach it through Tune);
    - no autoscaler monitor: one machine has nothing to scale, and a trial larger than the
      machine is refused before the sweep starts (``platform.capacity``);
    - no API server (``dashboard.py``) while Ray's usage statistics are off, as ``ray.init``
      turns them off for the cluster it starts (release wheels): without the dashboard
      (``include_dashboard=False``) the server loads nothing but their reporting module, and
      ``ray.init`` waited for it to publish its address before starting the raylet.

    Each is a Python process that costs about 1 CPU-second at start, while the driver's checks
    and the first trial's imports want both cores; the monitors poll every few seconds after.
    """
    from ray._common.usage import usage_lib
    from ray._private import node, parameter

    from platform import logs

    original = parameter.RayParams.__init__
    if getattr(original, "local_cluster", False):
        return
    start_api_server = node.Node.start_api_server

    @functools.wraps(start_api_server)
    def api_server(self, *, include_dashboard, raise_on_failure):
        if include_dashboard is False and not usage_lib.usage_stats_enabled():
            self._webui_url = None  # as a node without a dashboard has it
            return
        start_api_server(self, include_dashboard=include_dashboard, raise_on_failure=raise_on_failure)

    node.Node.start_api_server = api_server

    @functools.wraps(original)
    def init(self, *args, **kwargs):
        kwargs.setdefault("dashboard_agent_listen_port", 0)
        kwargs.setdefault("include_log_monitor", logs.worker_logs_shown())
        kwargs.setdefault("no_monitor", True)
        original(self, *args, **kwargs)

    init.local_cluster = True
    parameter.RayParams.__init__ = init


def _start_watchdog() -> None:
    """``platform.watchdog`` in a session of its own (a Ctrl-C to the terminal does not reach
    it), reading a pipe that closes when this process ends, however it ends; the processes
    this one starts after it carry its mark (``platform.watchdog.MARK``)."""
    global _watchdog
    from platform.watchdog import MARK, start_time

    mark = f"{os.getpid()}:{start_time(os.getpid())}"
    _watchdog = subprocess.Popen(
        [sys.executable, "-m", "platform.watchdog", str(os.getpid()), mark],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={key: value for key, value in os.environ.items() if key != MARK},  # not another's to end
    )  # no output of its own: a caller reading the driver's stdout to its end must not wait for it
    os.environ[MARK] = mark  # after the watchdog's start: every process started from now on
