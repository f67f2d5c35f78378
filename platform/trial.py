"""One Tune trial: the sweep's spec plus this trial's values -> a trained, evaluated run.

Runs inside a Ray Tune function trial. It builds the trial's spec (the sweep's validated spec
with this trial's values applied), encodes the corpus once, plans the per-epoch masked
stream, opens the trial's MLflow run (through its writer process, ``platform.run_writer``),
and runs ``platform.worker.train_loop`` on a ``TrialConfig``: here, in the trial's own
process, for one plain worker (the common case; nothing to start per trial), or on the
workers of a Ray Train ``TorchTrainer`` fed by Ray Data for DDP across workers and DeepSpeed
(``resources.runner``). Everything it needs from the driver (absolute paths, the objective's
import reference, the MLflow run of the sweep) arrives in ``SweepContext``, resolved before
any trial started.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from objectives.registry import instantiate, load_reference
from platform.data.sources import load_corpus
from platform.data.stream import MicroBatchBuilder, StreamPlan, build_streams
from platform.errors import UserError
from platform.preflight import check_mask_token_unused
from platform.run_names import trial_name
from platform.run_writer import RunWriter
from platform.spec import ExperimentSpec, apply_overrides
from platform.strategy import describe
from platform.tokenization import load_tokenizer
from platform.tracking import Tracking
from platform.trial_config import TrialConfig, train_on_worker

# ``platform.worker`` and ``platform.trial_session`` (torch, transformers' models) are imported
# by the functions that train: the driver imports this module for ``run_trial`` and
# ``SweepContext`` and never trains, so it starts without torch.


@dataclass(frozen=True)
class SweepContext:
    """One sweep, everything resolved on the driver before it starts and shared by every trial:
    what it runs, its identity, and where its state and runs go."""

    spec: ExperimentSpec
    """The sweep's spec, validated once on the driver; each trial applies its own values."""
    sweep_id: str
    model_dirs: dict[str, str]
    """Per base stage (``Objective.base_stage``: causal, bidirectional): the model its trials start from."""
    objective_refs: dict[str, str]
    """Objective name -> ``module:Class``."""
    tracking: Tracking
    experiment_id: str
    storage_path: str
    """Tune's state of every sweep; this one's is ``path``."""
    parent_run_id: str = ""
    """The sweep's own MLflow run, the trials' parent (set by the sweep once the run exists)."""

    @property
    def path(self) -> Path:
        return Path(self.storage_path) / self.sweep_id


def trial_tags(spec: ExperimentSpec, objective, sweep_id: str, varied: tuple[str, ...] = ()) -> dict[str, str]:
    """The trial run's MLflow tags: what it trained, on what, what the sweep varies (the fields
    to compare runs by, among the spec's many params), and whether remote code ran."""
    return {
        **({"varied": ", ".join(sorted(varied))} if varied else {}),
        "objective": spec.objective.name,
        "dataset": spec.data.name,
        "paraphrases": objective.paraphrases or spec.data.paraphrases,
        "sweep_id": sweep_id,
        "model": spec.model.path or spec.model.source,
        **({"remote_code": "trusted (model.trust_remote_code: true)"} if spec.model.trust_remote_code else {}),
    }


def run_trial(config: dict[str, Any], context: SweepContext) -> None:
    """The Tune trainable (a function trial): trains in this process, or fits a TorchTrainer."""
    import ray.tune

    # first: the writer process imports MLflow while this one imports torch for the tokenizer
    writer = RunWriter.for_process(context.tracking)
    overrides = dict(config)
    name = trial_name(overrides)
    spec = apply_overrides(context.spec, overrides, f"trial '{name}'")
    trial_id = ray.tune.get_context().get_trial_id()
    objective_cls = load_reference(context.objective_refs[spec.objective.name])
    model_dir = context.model_dirs[objective_cls.base_stage().name]
    tokenizer = load_tokenizer(model_dir, spec.model)
    objective = instantiate(objective_cls, tokenizer, spec)
    tags = trial_tags(spec, objective, context.sweep_id, tuple(overrides))
    # a trial training in this process that Tune restarted (after a crash, or on a resumed
    # sweep) continues from its checkpoint; a worker group's new Train run starts over
    resume_after = None
    if spec.resources.in_trial_process() and ray.tune.get_checkpoint() is not None:
        from platform.checkpoint import completed_epochs

        resume_after = completed_epochs(ray.tune.get_checkpoint())
    writer.start_trial_run(
        context.experiment_id,
        context.parent_run_id,
        f"{context.sweep_id}/{trial_id}",
        name,
        spec.model_dump(mode="json"),
        tags,
        resume_after=resume_after,
    )
    try:
        corpus = load_corpus(spec.data, objective.paraphrases)
        examples = objective.encode(corpus)
        check_mask_token_unused(objective, examples, corpus)
        questions, retention = objective.test_questions(corpus), objective.retention_questions(corpus)
        validation: list = []
        if spec.eval.select_on == "validation":
            questions, validation = split_validation(questions, spec.eval.validation_fraction, spec.data.world.seed)
        workers = spec.resources.num_workers
        plan = StreamPlan(len(examples), spec.train.epochs, spec.train.batch_size, workers, spec.train.seed)
        micro_batch = spec.train.batch_size // workers
        writer.log_text(describe(spec, micro_batch, plan.steps_per_epoch() * spec.train.epochs), "strategy.txt")
        builder = MicroBatchBuilder(objective, examples, spec.objective.mask_ratio, spec.train.seed, spec.train.epochs)
        in_trial_process = spec.resources.in_trial_process()
        train_config = TrialConfig(
            spec,
            model_dir,
            context.objective_refs[spec.objective.name],
            tuple(questions),
            tuple(retention),
            tuple(validation),
            context.tracking,
            # rank 0 of a worker group is another process, with a writer of its own: it needs the id
            None if in_trial_process else writer.run_id(),
            plan.steps_per_epoch() * spec.train.epochs,
            micro_batch,
        )
        if in_trial_process:
            train_in_trial_process(train_config, builder, plan, spec.resources.gpus_per_worker > 0, writer)
        else:
            fit_worker_group(spec, train_config, builder, plan, trial_id, context.storage_path, context.sweep_id)
    except SystemExit:  # Tune stopped the trial (ASHA, Ctrl-C): ``CloseStoppedRuns`` closes its run
        raise
    except BaseException as error:
        try:
            writer.end_run("FAILED", "".join(traceback.format_exception_only(error)).strip())
        except Exception as tracking_error:  # the store is gone too: say so, keep the first error
            error.add_note(f"its MLflow run could not be marked FAILED: {tracking_error}")
        raise
    writer.end_run("FINISHED")


def train_in_trial_process(
    train_config: TrialConfig, builder: MicroBatchBuilder, plan: StreamPlan, use_gpu: bool, writer: RunWriter
) -> None:
    """The whole trial here, in the Tune trial's process (``resources.runner``), which Tune
    reuses for the next trial: the model, optimizer and GPU memory are released on the way out,
    however the trial ends (a stopped trial's memory held by a reused process would starve the next)."""
    import gc

    from platform.trial_session import TrialProcessSession
    from platform.worker import train_loop

    try:
        train_loop(train_config, TrialProcessSession(builder, plan, use_gpu, writer))
    finally:
        gc.collect()
        release_gpu_memory()


def release_gpu_memory() -> None:
    """Hand the CUDA caching allocator's free blocks back (a no-op without CUDA)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def fit_worker_group(
    spec: ExperimentSpec,
    train_config: TrialConfig,
    builder: MicroBatchBuilder,
    plan: StreamPlan,
    trial_id: str,
    storage_path: str,
    sweep_id: str,
) -> None:
    """DDP across workers or DeepSpeed: a Ray Train worker group fed by a Ray Data stream."""
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.tune.integration.ray_train import TuneReportCallback

    # Ray Train V2 drains a worker's reports one per controller poll (2 s by default), so
    # every evaluated epoch after the first waited up to 2 s (benchmarks/FINDINGS.md #1).
    # Ray Train propagates this variable to its controller and workers; users can override it.
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
    res = spec.resources
    trainer = trainer_class(spec)(
        train_loop_per_worker=train_on_worker,
        train_loop_config={"trial": train_config},  # Ray Train hands its workers a dict
        scaling_config=ScalingConfig(
            num_workers=res.num_workers,
            use_gpu=res.gpus_per_worker > 0,
            resources_per_worker={
                "CPU": res.cpus_per_worker,
                **({"GPU": res.gpus_per_worker} if res.gpus_per_worker else {}),
            },
        ),
        run_config=RunConfig(
            name=trial_id,
            storage_path=os.path.join(storage_path, sweep_id, "train"),
            callbacks=[TuneReportCallback()],
            failure_config=FailureConfig(max_failures=spec.checkpoint.max_failures if spec.checkpoint.enabled else 0),
            checkpoint_config=CheckpointConfig(
                num_to_keep=spec.checkpoint.keep,
                checkpoint_score_attribute="selection_acc",
                checkpoint_score_order="max",
            ),
        ),
        datasets=build_streams(builder, plan),
        dataset_config=DataConfig(datasets_to_split=[]),
    )
    trainer.fit()


def trial_resources(spec: ExperimentSpec) -> dict[str, float]:
    """What Tune reserves for the trial's own process: the worker's CPUs and GPUs when it
    trains there; nothing but a little memory when it only coordinates a worker group (which
    holds the CPUs/GPUs itself: any fraction here would leave, say, 1.998 of 2 CPUs for two
    1-CPU workers)."""
    res = spec.resources
    if res.in_trial_process():
        return {"CPU": res.cpus_per_worker, **({"GPU": res.gpus_per_worker} if res.gpus_per_worker else {})}
    return {"CPU": 0, "memory": 2**26}


def trainer_class(spec: ExperimentSpec):
    """Ray Train's ``TorchTrainer`` where workers must talk (DDP across workers, DeepSpeed); a
    single plain worker gets the same trainer without the torch.distributed process group:
    nothing to synchronise, a faster start, and no rendezvous server (PyTorch's TCPStore binds
    every interface, whatever address it is given)."""
    if spec.resources.num_workers > 1 or spec.resources.strategy == "deepspeed":
        from ray.train.torch import TorchTrainer

        return TorchTrainer
    from ray.train.v2.api.data_parallel_trainer import (
        DataParallelTrainer,  # TorchTrainer's base class
    )

    return DataParallelTrainer


def split_validation(questions: list, fraction: float, seed: int) -> tuple[list, list]:
    """Hold out the questions of a seeded share of the entities (all of an entity's questions
    go to one side, so selection never peeks at a test entity)."""
    import random

    entities = sorted({q.entity or q.question for q in questions})
    held = set(random.Random(seed).sample(entities, max(1, round(len(entities) * fraction))))
    if len(held) == len(entities):
        raise UserError("eval.validation_fraction leaves no test entities", where="eval.validation_fraction")
    return [q for q in questions if (q.entity or q.question) not in held], [
        q for q in questions if (q.entity or q.question) in held
    ]
