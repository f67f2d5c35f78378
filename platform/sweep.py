"""``python -m platform.sweep SPEC``: validate, build the base model, run the Tune sweep, report.

    python -m platform.sweep search_spaces/lr.yaml            # run (or resume) the sweep
    python -m platform.sweep search_spaces/lr.yaml --dry-run  # validate and list the trials
    python -m platform.sweep search_spaces/lr.yaml --fresh    # start over, ignoring old state
    python -m platform.sweep spec.yaml --set train.epochs=50  # dotted overrides

Everything that can be checked is checked before the first trial starts: the spec, every
grid cell's resolved spec, the objectives' plugins, the data, and the MLflow store. Rerunning
the same command resumes an interrupted sweep: finished trials are not repeated and their
MLflow runs are reused.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from platform.cli import exit_now, main_guard
from platform.cluster import LocalClusterStart, leave_joined_cluster
from platform.errors import ServiceUnavailable, UserError
from platform.spec import ExperimentSpec
from platform.tracking import Tracking, browse_hint

if TYPE_CHECKING:
    from platform.plan import StagePlan


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m platform.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", help="the experiment spec (YAML)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run every check the run runs (spec, data, model, resources, "
        "MLflow), print the trials and what was found, train nothing",
    )
    parser.add_argument(
        "--spec-only",
        action="store_true",
        help="with --dry-run: check the spec alone (for a spec whose data, model and GPUs exist only on its cluster)",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore a previous run of this sweep and start over")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec field by dotted path"
    )
    parser.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local cluster)")
    parser.add_argument(
        "--verbose", action="store_true", help="show Ray's, Tune's and MLflow's own log lines too, and the trials' logs"
    )
    parser.add_argument(
        "--storage",
        default=None,
        help="where Tune keeps trial state (default: <state dir>/results, see platform/paths.py)",
    )
    return parser.parse_args(argv)


def sweep_id(spec: ExperimentSpec, model_dirs: dict[str, str] | None = None) -> str:
    """Same spec and base models -> same id: rerunning the command resumes the sweep.

    The base models' directories are keyed by everything that builds them, so a change in
    the embedded base model (its recipe, its vocabulary) starts a new sweep, never mixes.
    """
    payload = {"spec": spec.model_dump(mode="json"), "models": model_dirs or {}}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:8]
    return f"{spec.name}-{digest}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from platform import logs

    logs.configure(args.verbose)
    if args.spec_only and not args.dry_run:
        raise UserError("--spec-only checks a spec without running it: use it with --dry-run", where="--spec-only")
    cluster = LocalClusterStart(args.address)
    if not args.dry_run:  # begun before the spec loads: starting Ray takes as long as every check
        cluster.begin()
    from platform.plan import dry_run_report, make_plan

    plan = make_plan(args, spec_only=args.spec_only)
    spec, searcher, refs = plan.spec, plan.searcher, plan.refs
    if args.dry_run:  # the same id the run will use: model directories named, not built
        identifier = sweep_id(spec, planned_model_dirs(spec, plan.stages))
        print(dry_run_report(plan, identifier))
        return 0
    from platform.storage import sweep_lock

    tracking = plan.tracking
    experiment_id = tracking.check_reachable(spec.tracking.experiment)
    at_risk = tracking.artifacts_at_risk(experiment_id)
    if at_risk:
        print(f"[sweep] note: {at_risk}", flush=True)
    model_dirs = resolve_models(plan.stages, plan.pretrained)
    identifier = sweep_id(spec, model_dirs)
    documents = sum(len(c.documents) for c in plan.corpora.values())
    questions = sum(len(c.questions) for c in plan.corpora.values())
    print(
        f"[sweep] {identifier}: {searcher.total_trials} trials, {documents} documents, {questions} questions; "
        f"MLflow {tracking.shown} (experiment {spec.tracking.experiment!r})",
        flush=True,
    )
    with sweep_lock(plan.storage / ".locks" / identifier):  # first: a second driver is refused at once
        from platform.trial import SweepContext

        context = SweepContext(spec, identifier, model_dirs, refs, tracking, experiment_id, str(plan.storage))
        return run_sweep(context, searcher, cluster=cluster, fresh=args.fresh)


def run_sweep(context, searcher, cluster: LocalClusterStart, fresh: bool) -> int:
    """Ray (``cluster``: its local start, begun in the background, or the cluster it joins), the sweep's
    MLflow run, the Tuner (``searcher`` hands out the trials), and the results table: the driver
    owns the sweep."""
    spec, tracking, experiment_id, storage = context.spec, context.tracking, context.experiment_id, context.storage_path
    cluster.wait()
    parent = tracking.start_sweep_run(
        experiment_id, context.sweep_id, context.sweep_id, spec.model_dump(mode="json"), fresh=fresh
    )
    from platform.storage import out_of_space

    context = replace(context, parent_run_id=parent)
    started = time.time()
    from platform.interrupts import GracefulInterrupt

    try:
        with GracefulInterrupt() as interrupt:
            results, finished = run_tuner(context, searcher, fresh=fresh)
    except KeyboardInterrupt:  # a second Ctrl-C (or one before Tune could stop gracefully): quit at once
        print(f"\nInterrupted. Run the same command again to resume ({context.path}).", flush=True)
        mark_interrupted(tracking, experiment_id, parent, None, close_parent=True)
        return 130
    except BaseException as error:
        tracking.end_run(parent, "FAILED")
        if isinstance(error, Exception) and out_of_space(Path(storage), error):
            with contextlib.suppress(ServiceUnavailable):  # the store is elsewhere, but may be down too
                tracking.fail_running_trials(
                    experiment_id, parent, f"No space left on device in {storage} (the sweep stopped)"
                )
            print(
                f"\nerror: {storage} ran out of space during the sweep. Trials that failed are marked FAILED in "
                "MLflow with the error; finished trials and their runs are kept. Free space and run the same "
                "command again to resume.",
                file=sys.stderr,
                flush=True,
            )
            return 1
        raise
    from platform.results import results_table, summary_metrics, write_results

    stopped = (
        mark_interrupted(tracking, experiment_id, parent, interrupt.requested_at) if interrupt.requested else set()
    )
    table = results_table(results, spec, interrupted=stopped)
    paths = write_results(table, context.path)
    errors = sum(1 for r in results if r.error and Path(r.path).name not in stopped)
    finished -= len(stopped)
    total = searcher.total_trials
    interrupted = interrupt.requested or finished < total
    if not interrupted:
        sweep_report(tracking, context.sweep_id, context.path / "report")  # attaches itself under report/
    tracking_failure = close_parent_run(
        tracking, parent, paths, summary_metrics(table), "KILLED" if interrupted else "FAILED" if errors else "FINISHED"
    )
    print()
    print(table.to_markdown())
    print(f"\n{len(results)} trials in {time.time() - started:.0f}s ({errors} failed). Table: {paths['markdown']}")
    if interrupted:
        print(f"Interrupted: {finished} of {total} trials finished. Run the same command again to resume.")
    print(f"MLflow runs: {tracking.shown} (experiment {spec.tracking.experiment!r}); {browse_hint(tracking.uri)}")
    if tracking_failure:
        print(tracking_failure)
    return 130 if interrupted else 1 if errors or tracking_failure else 0


def mark_interrupted(
    tracking: Tracking, experiment_id: str, parent: str, since: float | None, close_parent: bool = False
) -> set[str]:
    """After a Ctrl-C: the interrupted trials' runs (and on a hard stop the sweep's) KILLED.

    Best effort, quickly: a store that is down must not keep a user who pressed Ctrl-C waiting
    for minutes; the runs then stay RUNNING and the rerun replaces them."""
    tracking = tracking.waiting_at_most(10.0)
    try:
        stopped = tracking.close_interrupted_trials(experiment_id, parent, since)
        if close_parent:
            tracking.end_run(parent, "KILLED")
        return stopped
    except ServiceUnavailable as error:
        print(f"[sweep] could not mark the interrupted runs KILLED in MLflow ({error})", flush=True)
        return set()


def sweep_report(tracking: Tracking, identifier: str, out: Path) -> None:
    """The paper-style report of the finished sweep (``python -m platform.report``), written
    next to its results and attached to the sweep's run under ``report/``. A report that cannot
    be made (an MLflow hiccup) is said, never fatal: the table is already written."""
    from platform.report import build_report

    try:
        build_report(tracking, identifier, out)
    except (ServiceUnavailable, UserError, OSError, ValueError) as error:
        print(
            f"[sweep] report not written ({error}); `python -m platform.report {identifier}` makes it later", flush=True
        )


def close_parent_run(
    tracking: Tracking, parent: str, paths: dict[str, str], summary: dict[str, float], status: str
) -> str | None:
    """Attach the table to the sweep's run and end it; a message if the store stayed unreachable.

    The table is on disk already, so an MLflow outage at the very end loses nothing: the
    user is told, and the exit code says the sweep is not fully recorded.
    """
    try:
        tracking.log_sweep_table(parent, paths, summary)
        tracking.end_run(parent, status)
    except ServiceUnavailable:
        return (
            f"MLflow store {tracking.shown} unreachable at the end of the sweep: the sweep's run was "
            f"not closed and the table not attached (it is at {paths['markdown']})."
        )
    return None


def planned_model_dirs(spec: ExperimentSpec, stages: dict[str, StagePlan]) -> dict[str, str]:
    """The model directory per base stage that ``resolve_models`` will return, without building any."""
    from platform.base_model import base_model_path

    if spec.model.source != "embedded":
        from platform.pretrained import model_directory

        return dict.fromkeys(stages, model_directory(spec.model, convert=False))
    return {name: str(base_model_path(planned.spec, planned.stage)) for name, planned in stages.items()}


def resolve_models(stages: dict[str, StagePlan], pretrained: str | None) -> dict[str, str]:
    """Model directory per base stage (causal, bidirectional, math) the sweep's objectives need.

    A pretrained model is used as it is by every stage (no base stage: the world's new
    entities are injected directly); the embedded model gets its cached base stage.
    """
    from platform.base_model import ensure_base_model

    if pretrained is not None:
        return dict.fromkeys(stages, pretrained)
    return {
        name: str(ensure_base_model(planned.spec, planned.stage, log=lambda line: print(line, flush=True)))
        for name, planned in stages.items()
    }


def run_tuner(context, searcher, fresh: bool):
    """The Tuner of the sweep, new or restored from its state, run to the end: (results, finished trials)."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from platform.progress import CloseStoppedRuns, CompactProgress
    from platform.storage import check_resumable
    from platform.trial import run_trial

    spec, storage, identifier = context.spec, context.storage_path, context.sweep_id

    resources = TrialResources(spec)
    trainable = tune.with_resources(tune.with_parameters(run_trial, context=context), resources)
    in_process = resources.any_in_trial_process()
    retries = spec.checkpoint.max_failures if spec.checkpoint.enabled else 0
    experiment_path = os.path.join(storage, identifier)
    # Tune's own per-trial files (result.json, progress.csv), without its TensorBoard writer:
    # MLflow has the curves, and tensorboardX imports torch into a driver that never trains
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    callbacks = [
        CompactProgress(searcher.total_trials, spec.train.epochs, spec.search.max_concurrent),
        CloseStoppedRuns(context.tracking, context.experiment_id, identifier),
        JsonLoggerCallback(),
        CSVLoggerCallback(),
    ]
    if not fresh and tune.Tuner.can_restore(experiment_path):
        check_resumable(Path(experiment_path))
        print(f"[sweep] resuming {experiment_path} (finished trials are kept; --fresh starts over)", flush=True)
        tuner = tune.Tuner.restore(experiment_path, trainable=trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                num_samples=searcher.total_trials,
                max_concurrent_trials=spec.search.max_concurrent,
                metric=spec.search.metric,
                mode="max",
                trial_dirname_creator=lambda trial: trial.trial_id,
                scheduler=scheduler(spec),
                # a trial's process serves the next trial too, training it (one worker) or
                # coordinating its worker group: no new process, no imports again
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=identifier,
                storage_path=storage,
                callbacks=callbacks,
                verbose=0,
                # trials in their own process restart from Tune's checkpoints; a worker group
                # restarts itself from Ray Train's (its own FailureConfig, platform/trial.py). In
                # a sweep with both, a worker group that used up its restarts is retried by Tune too
                failure_config=tune.FailureConfig(max_failures=retries if in_process else 0),
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=spec.checkpoint.keep,
                    checkpoint_score_attribute="selection_acc",
                    checkpoint_score_order="max",
                ),
            ),
        )
    results = tuner.fit()
    return results, results.num_terminated + results.num_errors


class TrialResources:
    """Tune's per-trial resource request, from the trial's own resolved spec."""

    def __init__(self, spec: ExperimentSpec) -> None:
        self.spec = spec

    def __call__(self, config: dict) -> object:
        from ray import tune

        from platform.spec import apply_overrides
        from platform.trial import trial_resources

        return tune.PlacementGroupFactory([trial_resources(apply_overrides(self.spec, dict(config), "trial"))])

    def any_in_trial_process(self) -> bool:
        """Whether some grid cell trains in its trial's process (Tune then retries and reuses)."""
        from platform.search import grid_cells
        from platform.spec import apply_overrides

        cells = grid_cells(self.spec.search)
        return any(apply_overrides(self.spec, cell, "grid cell").resources.in_trial_process() for cell in cells)


def scheduler(spec: ExperimentSpec):
    """ASHA over evaluations (one Tune iteration per evaluated epoch), or Tune's FIFO default."""
    stopping = spec.search.early_stopping
    if stopping.kind == "none":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=len(spec.eval_epochs()),
        grace_period=min(stopping.grace_evaluations, len(spec.eval_epochs())),
        reduction_factor=stopping.reduction_factor,
    )


if __name__ == "__main__":
    code = main_guard(main)(sys.argv[1:])
    leave_joined_cluster()
    exit_now(code)
