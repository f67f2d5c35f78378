"""The embedded base model: a tiny Llama taught the formats on the *known* entities, cached.

Why a base stage: a real LLM already knows how to answer questions and follow the masked
reconstruction instruction; a model built from config knows nothing. So before any trial,
the tiny model is trained on known entities: their documents (in the format of each
objective of the trials' ``BaseStage``, e.g. ``ar`` and ``masked_ar``), with their paraphrases
in both orders by default, and, for a share of them, question/answer pairs. The paraphrases stand for what a pretrained
model brings: it has met what it knows in many phrasings, and that is what makes knowledge
injected later answerable by questions at all (``docs/method.md`` has the measurements). It
never sees a new entity. The result is cached on disk, keyed by everything that determines
it, written atomically, and shared by every trial of every sweep.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch

from objectives.base import BaseStage, Context, Example, Objective, Sample
from platform.chat import ChatFormat, qa_ids
from platform.data.sources import build_world
from platform.data.stream import collate
from platform.data.worlds import vocabulary_texts
from platform.engine import Engine, build_optimizer, lr_schedule, train_step
from platform.evaluate import score_questions, summarize
from platform.logs import duration_text
from platform.models import build_tiny_model, set_bidirectional
from platform.spec import ExperimentSpec, TrainSpec
from platform.tokenization import build_word_tokenizer, mask_token_id


def build_base_model(spec: ExperimentSpec, stage: BaseStage, out: Path, log) -> dict:
    """Train the base model of ``stage`` into ``out`` (``platform.base_model`` caches it); its report."""
    started = time.time()
    cfg = spec.model.base_pretrain
    world = build_world(spec.data)
    tokenizer = build_word_tokenizer(vocabulary_texts())
    model = build_tiny_model(spec.model.tiny, tokenizer, cfg.seed)
    if stage.bidirectional:
        set_bidirectional(model)
    context = Context(tokenizer, ChatFormat.from_tokenizer(tokenizer), mask_token_id(tokenizer, spec.model))
    formats, documents, qa_pairs = known_examples(world, stage, context, cfg.paraphrases)

    epochs, lr = cfg.recipe(stage.bidirectional)
    steps_per_epoch = -(-(len(qa_pairs) + len(formats) * len(documents)) // cfg.batch_size)
    engine = base_engine(model, lr, steps_per_epoch * epochs)
    rng = np.random.default_rng(cfg.seed)
    shuffle = random.Random(cfg.seed)
    model.train()
    progress = BuildProgress(epochs, log)
    for epoch in range(epochs):
        samples = epoch_samples(formats, documents, qa_pairs, rng)
        total, steps = torch.zeros(()), 0
        for chunk in length_batches(samples, cfg.batch_size, shuffle):
            batch = {k: torch.from_numpy(v) for k, v in collate(chunk, tokenizer.pad_token_id).items()}
            total, steps = total + train_step(engine, formats[0], batch), steps + 1
        progress.epoch_done(epoch + 1, float(total) / max(1, steps))

    probe = world.base_probe_questions()
    answers = formats[0].generate(model, [q.question for q in probe], 24, 128)
    metrics = summarize(score_questions(probe, answers))
    log(f"[base] {probe_line(metrics)}")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"family": stage.name, "probe": metrics, "seconds": round(time.time() - started, 1)}


class BuildProgress:
    """The build's progress lines: after the first epoch (the pace, so the time left is known
    at once), then at most every ``every_s`` seconds, and at the end.

    Why: the build is the first thing a new user waits for (minutes on two cores); a line
    every 10 epochs left them two minutes without a word, then an estimate."""

    def __init__(self, epochs: int, log, every_s: float = 30.0) -> None:
        self.epochs, self.log, self.every_s = epochs, log, every_s
        self.started = self.last_line = time.time()

    def epoch_done(self, epoch: int, loss: float) -> None:
        now = time.time()
        if epoch not in (1, self.epochs) and now - self.last_line < self.every_s:
            return
        self.last_line = now
        elapsed = now - self.started
        left = elapsed / epoch * (self.epochs - epoch)
        self.log(
            f"[base] epoch {epoch}/{self.epochs} loss {loss:.4f} elapsed {duration_text(elapsed)} "
            + ("done" if epoch == self.epochs else f"about {duration_text(left)} left")
        )


def known_examples(
    world, stage: BaseStage, context: Context, paraphrases: str
) -> tuple[list[Objective], list[Example], list[tuple[list[int], list[int]]]]:
    """The stage's formats, the known part of ``world`` encoded by the first of them (known
    entities' documents, or known problems), and the world's QA pairs as (prompt, completion) ids."""
    formats: list[Objective] = [objective_cls(context) for objective_cls in stage.formats]
    documents = formats[0].encode(world.base_corpus(paraphrases))
    qa_pairs = [qa_ids(context.tokenizer, context.chat, q.question, q.answer) for q in world.base_qa()]
    return formats, documents, qa_pairs


def probe_line(metrics: dict[str, float]) -> str:
    """The base model's check in words: recall per direction on known entities whose QA was
    never trained, or exact match on known problems never trained."""
    if "backward_acc" not in metrics:
        return f"known problems never trained: exact match {metrics['forward_acc']:.2f}"
    return (
        f"known entities whose QA was never trained: forward {metrics['forward_acc']:.2f}, backward "
        f"{metrics['backward_acc']:.2f}"
    )


def epoch_samples(
    formats: list[Objective], documents: list, qa_pairs: list[tuple[list[int], list[int]]], rng: np.random.Generator
) -> list[Sample]:
    """One epoch of the base stage: every QA pair (the first format's ``qa_sample``), then every
    known document in each format, each at its own mask ratio t ~ U(0.05, 0.95)."""
    samples = [formats[0].qa_sample(prompt, completion, rng) for prompt, completion in qa_pairs]
    for objective in formats:
        samples += [objective.make_sample(e, rng, float(rng.uniform(0.05, 0.95))) for e in documents]
    return samples


def base_engine(model: torch.nn.Module, lr: float, total_steps: int) -> Engine:
    """The trials' optimizer recipe (``platform/engine.py``): fused AdamW (0.9, 0.95), weight
    decay 0.1 on matrices only, 2% warm-up, gradient clipping 1.0; only the rate is the base's."""
    train = TrainSpec(lr=lr)
    optimizer = build_optimizer(model, train)
    scheduler = lr_schedule(optimizer, total_steps, train.warmup_ratio)
    return Engine(model, model, optimizer, scheduler, train.grad_clip)


def length_batches(samples: list, batch_size: int, shuffle: random.Random, pool: int = 16) -> list[list]:
    """Batches of similar length in a shuffled order: samples are shuffled, sorted by length
    within pools of ``pool`` batches, cut into batches, and the batches shuffled. The base
    stage mixes 10-token documents with 40-token masked copies; padding every batch to its
    longest member would spend most of the compute on padding."""
    order = list(samples)
    shuffle.shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size * pool):
        chunk = sorted(order[start : start + batch_size * pool], key=lambda sample: len(sample.input_ids))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffle.shuffle(batches)
    return batches
