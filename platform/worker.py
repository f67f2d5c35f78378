"""The training loop on each Ray Train worker: read it top to bottom.

One pass over this rank's stream covers every epoch (rows carry their epoch), so the loop
is: take a micro-batch, compute the objective's loss, step; at the end of an evaluated
epoch, answer the questions (split across ranks, gathered), log to MLflow from rank 0, and
report to Ray Tune. Nothing here knows which objective or strategy it runs.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from objectives.registry import instantiate, load_reference
from platform.data.corpus import Question
from platform.engine import build_engine
from platform.evaluate import Prediction, score_questions, summarize
from platform.models import attention_mask_for, load_pretrained, set_bidirectional
from platform.spec import ExperimentSpec


def train_loop(config: dict[str, Any]) -> None:
    """Entry point of ``TorchTrainer(train_loop_per_worker=...)``; ``config`` is built by the trial."""
    import ray.train

    from platform.tracking import TrialLogger

    spec = ExperimentSpec.model_validate(config["spec"])
    torch.set_num_threads(spec.resources.torch_threads or max(1, int(spec.resources.cpus_per_worker)))
    torch.manual_seed(spec.train.seed)
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()

    tokenizer, model = load_pretrained(config["model_dir"], spec.model)
    objective = instantiate(load_reference(config["objective_ref"]), tokenizer, spec)
    if objective.bidirectional:
        set_bidirectional(model)
    engine = build_engine(spec, model, config["total_steps"], config["micro_batch"])
    device = next(engine.module.parameters()).device

    questions = [Question(**q) for q in config["questions"]]
    retention = [Question(**q) for q in config["retention_questions"]]
    validation = [Question(**q) for q in config.get("validation_questions", [])]
    best_selection, evaluations_since_best = -math.inf, 0
    eval_epochs = set(spec.eval_epochs())
    logger = TrialLogger(config["tracking_uri"], config["run_id"]) if rank == 0 else None
    stream = ray.train.get_dataset_shard(f"train_rank{rank}")

    started = time.time()
    epoch_loss = torch.zeros((), device=device)
    epoch_steps = 0
    tokens_seen = torch.zeros((), dtype=torch.long)
    current_epoch = None

    def end_of_epoch(epoch: int) -> bool:
        """After 0-based ``epoch`` (-1: before training): evaluate if the spec asks for it.

        Returns True when the trial should stop early (``eval.patience`` ran out).
        """
        nonlocal epoch_loss, epoch_steps, best_selection, evaluations_since_best
        if epoch + 1 not in eval_epochs:
            return False
        metrics = {"lr": engine.lr(), "tokens_seen": int(tokens_seen), "wall_time": time.time() - started}
        if epoch_steps:
            if world_size > 1:  # the loss of the whole global batch, not just rank 0's share
                torch.distributed.all_reduce(epoch_loss)
                epoch_loss /= world_size
            metrics["loss"] = (epoch_loss / epoch_steps).item()
            if not math.isfinite(metrics["loss"]):
                raise FloatingPointError(f"training loss became {metrics['loss']} by epoch {epoch + 1} (lr {engine.lr():.3g}): trial stopped")
        with engine.full_parameters():
            predictions = evaluate_split(objective, engine.module, questions, spec, rank, world_size)
            metrics.update(summarize(predictions))
            if retention:
                metrics.update(summarize(evaluate_split(objective, engine.module, retention, spec, rank, world_size), prefix="retention_"))
            if validation:
                metrics.update(summarize(evaluate_split(objective, engine.module, validation, spec, rank, world_size), prefix="val_"))
        metrics["selection_acc"] = metrics["val_mean_acc" if validation else "mean_acc"]
        metrics["epoch"] = epoch + 1
        if metrics["selection_acc"] > best_selection:
            best_selection, evaluations_since_best = metrics["selection_acc"], 0
        else:
            evaluations_since_best += 1
        if logger:
            logger.log_epoch(metrics, epoch + 1, predictions)
        ray.train.report(metrics)
        epoch_loss, epoch_steps = torch.zeros((), device=device), 0
        return spec.eval.patience is not None and evaluations_since_best >= spec.eval.patience

    engine.model.train()
    stop_reason = "completed"
    end_of_epoch(-1)
    for batch in stream.iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=4):
        epoch = int(batch["epoch"][0])
        if current_epoch is not None and epoch != current_epoch and end_of_epoch(current_epoch):
            stop_reason = f"patience: no better selection accuracy in {spec.eval.patience} evaluations"
            break
        current_epoch = epoch
        input_ids, labels, padding, weights = (torch.tensor(batch[k][0], device=device) for k in ("input_ids", "labels", "attention_mask", "weights"))
        logits = engine.model(input_ids=input_ids, attention_mask=attention_mask_for(engine.module, padding)).logits
        loss = objective.loss(logits, labels, weights)
        engine.step(loss)
        epoch_loss += loss.detach()
        epoch_steps += 1
        tokens_seen += padding.sum()  # stays a tensor: no host sync per step
    else:  # the stream ran out: the last epoch is complete
        if current_epoch is not None:
            end_of_epoch(current_epoch)
    if logger:
        logger.set_stop_reason(stop_reason)


def evaluate_split(objective, model, questions: list[Question], spec: ExperimentSpec, rank: int, world_size: int) -> list[Prediction]:
    """Each rank answers every world_size-th question; all ranks get every prediction, in order."""
    share = questions[rank::world_size]
    answers = objective.generate(model, [q.question for q in share], spec.eval.max_new_tokens, spec.eval.batch_size)
    predictions = score_questions(share, answers)
    if world_size == 1:
        return predictions
    gathered: list[list[Prediction]] = [[] for _ in range(world_size)]
    torch.distributed.all_gather_object(gathered, predictions)
    merged: list[Prediction] = []
    for i in range(len(questions)):  # restore the original order
        merged.append(gathered[i % world_size][i // world_size])
    return merged
