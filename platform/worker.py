"""The training loop on each Ray Train worker: read it top to bottom.

One pass over this rank's stream covers every epoch (rows carry their epoch), so the loop
is: take a micro-batch, compute the objective's loss, step; at the end of an evaluated
epoch, answer the questions (split across ranks, gathered), log to MLflow from rank 0 (through
its writer process), checkpoint, and report to Ray Tune. After a failure, Ray Train restarts
the workers and the loop resumes from the last checkpoint (model, optimizer, data position).
Nothing here knows which objective or strategy it runs.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from pathlib import Path

import torch

from objectives.registry import instantiate, load_reference
from platform import checkpoint
from platform.data.corpus import Question
from platform.engine import build_engine, train_step
from platform.evaluate import Prediction, score_questions, summarize
from platform.models import load_pretrained, set_bidirectional
from platform.spec import ExperimentSpec
from platform.strategy import weights_dtype
from platform.tracking import BEST_KEYS
from platform.trial_config import TrialConfig
from platform.trial_session import TrainWorkerSession, TrialProcessSession


def train_loop(config: TrialConfig, session: TrainWorkerSession | TrialProcessSession | None = None) -> None:
    """What a Ray Train worker runs (through ``platform.trial_config.train_on_worker``; ``session``
    None) and what a trial that trains in its own process runs."""
    session = session or TrainWorkerSession()
    spec = config.spec
    torch.set_num_threads(spec.resources.torch_threads or max(1, int(spec.resources.cpus_per_worker)))
    torch.manual_seed(spec.train.seed)
    rank, world_size = session.rank, session.world_size

    tokenizer, model = load_pretrained(config.model_dir, spec.model, weights_dtype(spec))
    objective = instantiate(load_reference(config.objective_ref), tokenizer, spec)
    if objective.bidirectional:
        set_bidirectional(model)
    engine = build_engine(spec, model, config.total_steps, config.micro_batch, session.prepare_model)
    device = next(engine.module.parameters()).device

    evaluation = Evaluation(objective, engine, spec, config, rank, world_size)
    logger = session.mlflow_logger(config) if rank == 0 else None
    state = checkpoint.LoopState()
    with session.restored() as directory:
        restored = directory is not None
        if restored:  # a restart after a failure: continue after the last checkpointed epoch
            state = checkpoint.load(engine, directory)
            if logger:
                logger.restore_best(state.best_selection, state.best_metrics)
    eval_epochs = set(spec.eval_epochs())
    started, cpu_started = time.time(), time.process_time()
    epoch_loss, epoch_steps = torch.zeros((), device=device), 0
    tokens_seen = torch.tensor(state.tokens_seen, device=device)

    def end_of_epoch(epoch: int) -> bool:
        """After 0-based ``epoch`` (-1: before training): evaluate, log, checkpoint, report.

        Returns True when the trial should stop early (``eval.patience`` ran out).
        """
        nonlocal epoch_loss, epoch_steps
        state.completed_epochs = epoch + 1
        if epoch + 1 not in eval_epochs:
            return False
        metrics: dict[str, float] = {
            "lr": engine.lr(),
            "tokens_seen": int(tokens_seen),
            "wall_time": time.time() - started,
            "process_cpu_s": time.process_time() - cpu_started,
        }
        if epoch_steps:
            metrics["loss"] = mean_loss(epoch_loss, epoch_steps, world_size, epoch + 1, engine.lr())
        predictions, scores = evaluation.run()
        metrics.update(scores, epoch=epoch + 1)
        if metrics["selection_acc"] > state.best_selection:
            state.best_selection, state.evaluations_since_best = metrics["selection_acc"], 0
            state.best_metrics = {**{k: metrics[k] for k in BEST_KEYS if k in metrics}, "epoch": epoch + 1}
        else:
            state.evaluations_since_best += 1
        state.tokens_seen = int(tokens_seen)
        if logger:
            logger.log_epoch(metrics, epoch + 1, [vars(p) for p in predictions])
            metrics["mlflow_queued"] = logger.queued  # to Tune only: the driver's console says so
        # before training there is nothing to resume from: a checkpoint there (model and
        # optimizer, gigabytes for a real model, written and copied) would only cost time
        report(session, metrics, engine, state, spec.checkpoint.enabled and epoch >= 0)
        epoch_loss, epoch_steps = torch.zeros((), device=device), 0
        return spec.eval.patience is not None and state.evaluations_since_best >= spec.eval.patience

    engine.model.train()
    stop_reason = "completed"
    if not restored:
        end_of_epoch(-1)
    current_epoch, finished = None, False
    try:
        for batch in session.batches(state.completed_epochs):
            epoch = int(batch["epoch"])
            if current_epoch is not None and epoch != current_epoch and end_of_epoch(current_epoch):
                stop_reason = f"patience: no better selection accuracy in {spec.eval.patience} evaluations"
                break
            current_epoch = epoch
            tensors = {
                k: torch.as_tensor(batch[k], device=device)
                for k in ("input_ids", "labels", "attention_mask", "weights")
            }
            epoch_loss += train_step(engine, objective, tensors)
            epoch_steps += 1
            tokens_seen += tensors["attention_mask"].sum()  # stays a tensor: no host sync per step
        else:  # the stream ran out: the last epoch is complete
            if current_epoch is not None:
                end_of_epoch(current_epoch)
        finished = True
    finally:  # stopped (ASHA, Ctrl-C) or failed too: what was logged reaches MLflow
        if logger and finished:
            logger.set_stop_reason(stop_reason)
            logger.close()
        elif logger:  # the error in flight is the one to see, not a store outage behind it
            with contextlib.suppress(Exception):
                logger.close()


def mean_loss(epoch_loss: torch.Tensor, steps: int, world_size: int, epoch: int, lr: float) -> float:
    """The training loss since the last evaluation, over the whole global batch (all ranks)."""
    if world_size > 1:
        torch.distributed.all_reduce(epoch_loss)
        epoch_loss = epoch_loss / world_size
    value = (epoch_loss / steps).item()
    if not math.isfinite(value):
        raise FloatingPointError(f"training loss became {value} by epoch {epoch} (lr {lr:.3g}): trial stopped")
    return value


def report(session, metrics: dict[str, float], engine, state: checkpoint.LoopState, save_checkpoint: bool) -> None:
    """Report to Ray Train/Tune, with this rank's part of the checkpoint when enabled."""
    if not save_checkpoint:
        session.report(metrics, None)
        return
    with tempfile.TemporaryDirectory() as directory:
        wrote = checkpoint.save(engine, Path(directory), state, session.rank)
        session.report(metrics, Path(directory) if wrote else None)


class Evaluation:
    """The trial's question sets, answered with sharded work across ranks."""

    def __init__(
        self, objective, engine, spec: ExperimentSpec, config: TrialConfig, rank: int, world_size: int
    ) -> None:
        self.objective, self.engine, self.spec = objective, engine, spec
        self.rank, self.world_size = rank, world_size
        self.sets = {
            "": list(config.questions),
            "retention_": list(config.retention_questions),
            "val_": list(config.validation_questions),
        }

    def run(self) -> tuple[list[Prediction], dict[str, float]]:
        """(test predictions, metrics of every set plus ``selection_acc``)."""
        metrics: dict[str, float] = {}
        predictions: list[Prediction] = []
        with self.engine.full_parameters(), self.engine.precision():
            for prefix, questions in self.sets.items():
                if questions:
                    answered = self.answer(questions)
                    metrics.update(summarize(answered, prefix=prefix))
                    predictions = answered if prefix == "" else predictions
        metrics["selection_acc"] = metrics["val_mean_acc" if self.sets["val_"] else "mean_acc"]
        return predictions, metrics

    def answer(self, questions: list[Question]) -> list[Prediction]:
        """Each rank answers every world_size-th question; all ranks get every prediction, in order."""
        share = questions[self.rank :: self.world_size]
        answers = self.objective.generate(
            self.engine.module, [q.question for q in share], self.spec.eval.max_new_tokens, self.spec.eval.batch_size
        )
        predictions = score_questions(share, answers)
        if self.world_size == 1:
            return predictions
        gathered: list[list[Prediction]] = [[] for _ in range(self.world_size)]
        torch.distributed.all_gather_object(gathered, predictions)
        return [gathered[i % self.world_size][i // self.world_size] for i in range(len(questions))]
