"""Figure B1: the base stage's training step, as built now against the loop it replaced.

``python -m benchmarks.base_stage [--epochs 1] [--threads 2]`` (about a minute) builds one epoch of the
embedded default's base-stage samples (known people's documents and paraphrases in ``ar`` and
``masked_ar`` format, QA pairs) and trains a fresh tiny model on it twice from the same
weights, interleaved chunk by chunk so both see the same machine load:

- baseline: the previous loop, batches cut from the shuffled samples in order and
  ``torch.optim.AdamW`` with its default per-tensor kernel over every parameter;
- platform: ``platform.base_training``'s loop, ``length_batches`` (similar lengths per batch)
  and the trials' engine (fused AdamW, decay on matrices only, warm-up, clipping).

It prints samples per second of each, their ratio, and the share of padded positions.
"""

from __future__ import annotations

import argparse
import copy
import random
import time

import numpy as np
import torch

from objectives.base import Context, Objective
from platform import base_training
from platform.base_training import base_engine, length_batches
from platform.chat import ChatFormat
from platform.data.sources import build_world
from platform.data.stream import collate
from platform.data.worlds import vocabulary_texts
from platform.models import build_tiny_model, model_inputs
from platform.spec import ExperimentSpec
from platform.tokenization import build_word_tokenizer, mask_token_id

CHUNK = 8
"""Batches per timed chunk; the two loops alternate chunk by chunk."""


def epoch_samples(spec: ExperimentSpec, context: Context, seed: int) -> tuple[list, Objective]:
    """One epoch of the causal base stage's samples, drawn by ``platform.base_training.epoch_samples``."""
    world = build_world(spec.data)
    formats, documents, qa_pairs = base_training.known_examples(
        world, Objective.base_stage(), context, spec.model.base_pretrain.paraphrases
    )
    return base_training.epoch_samples(formats, documents, qa_pairs, np.random.default_rng(seed)), formats[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-known", type=int, default=None, help="a smaller world (the test's quick run)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = ExperimentSpec.model_validate({"data": {"world": {"num_known": args.num_known}}} if args.num_known else {})
    cfg = spec.model.base_pretrain
    tokenizer = build_word_tokenizer(vocabulary_texts())
    context = Context(tokenizer, ChatFormat.from_tokenizer(tokenizer), mask_token_id(tokenizer, spec.model))
    samples, objective = epoch_samples(spec, context, cfg.seed)

    shuffled = list(samples)
    random.Random(0).shuffle(shuffled)
    plain_batches = [shuffled[i : i + cfg.batch_size] for i in range(0, len(shuffled), cfg.batch_size)] * args.epochs
    bucketed = [
        b for epoch in range(args.epochs) for b in length_batches(samples, cfg.batch_size, random.Random(epoch))
    ]

    model = build_tiny_model(spec.model.tiny, tokenizer, cfg.seed)
    baseline_model, platform_model = model, copy.deepcopy(model)
    baseline_optimizer = torch.optim.AdamW(baseline_model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.1)
    engine = base_engine(platform_model, cfg.lr, len(bucketed))

    def baseline_step(batch: dict) -> None:
        loss = objective.loss(
            baseline_model(**model_inputs(baseline_model, batch["input_ids"], batch["attention_mask"])).logits,
            batch["labels"],
            batch["weights"],
        )
        baseline_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(baseline_model.parameters(), 1.0)
        baseline_optimizer.step()

    def platform_step(batch: dict) -> None:
        loss = objective.loss(
            platform_model(**model_inputs(platform_model, batch["input_ids"], batch["attention_mask"])).logits,
            batch["labels"],
            batch["weights"],
        )
        engine.step(loss)

    seconds = {"baseline": 0.0, "platform": 0.0}
    padded = {"baseline": [0, 0], "platform": [0, 0]}
    loops = {"baseline": (plain_batches, baseline_step), "platform": (bucketed, platform_step)}
    for start in range(0, max(len(plain_batches), len(bucketed)), CHUNK):
        for name in ("baseline", "platform") if (start // CHUNK) % 2 == 0 else ("platform", "baseline"):
            batches, step = loops[name]
            tensors = [
                {k: torch.from_numpy(v) for k, v in collate(b, tokenizer.pad_token_id).items()}
                for b in batches[start : start + CHUNK]
            ]
            began = time.perf_counter()
            for batch in tensors:
                step(batch)
            seconds[name] += time.perf_counter() - began
            for batch in tensors:
                padded[name][0] += int((batch["attention_mask"] == 0).sum())
                padded[name][1] += batch["attention_mask"].numel()
    rate = {name: len(samples) * args.epochs / seconds[name] for name in seconds}
    for name in ("baseline", "platform"):
        print(f"{name:8s}: {rate[name]:7.1f} samples/s, {padded[name][0] / padded[name][1]:.0%} of positions padding")
    print(
        f"[B1] base-stage training: {rate['platform']:.1f} samples/s ({rate['platform'] / rate['baseline']:.2f}x vs "
        f"the previous loop = {rate['baseline']:.1f} samples/s); "
        f"{len(samples)} samples an epoch, batch {cfg.batch_size}, {args.threads} thread(s)"
    )


if __name__ == "__main__":
    main()
