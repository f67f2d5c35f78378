"""Figure 7: peak memory (RSS) of a process running the tiny trial loop.

The parent runs ``python -m benchmarks.memory`` in a fresh subprocess (so nothing the other
benchmarks allocated counts). The child imports the platform, builds the tiny default model,
then runs the trial loop of ``platform/worker.py`` for ``masked_ar``: the platform step over
the masked micro-batches (built in process by ``MicroBatchBuilder``), with an evaluation
(``objective.generate`` on every test question) every 10 epochs and after the last.
The baseline is the same process's peak RSS just before the first step (interpreter, torch,
transformers, tokenizer, model, optimizer): what any process that could train pays.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

from benchmarks.common import REPO, Figure, Settings


def peak_rss_mb() -> float:
    """This process's peak resident set size (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(epochs: int, threads: int) -> dict[str, float]:
    """The trial loop in this process; returns the peak RSS before and after it."""
    import torch

    torch.set_num_threads(threads)
    from benchmarks.common import Workbench, plan_chunks, split_rows
    from benchmarks.train_loop import platform_engine, platform_steps

    bench = Workbench()
    objective = bench.objective("masked_ar")
    builder = bench.builder(objective, epochs)
    plan = bench.plan(objective, epochs)
    model = bench.model()
    engine = platform_engine(model, bench.spec, plan.steps_per_epoch() * epochs)
    questions = [q.question for q in bench.corpus.questions]
    chunks = plan_chunks(plan)
    setup = peak_rss_mb()
    for chunk in chunks:  # chunks of 16 micro-batches, as Ray Data hands them to the worker
        platform_steps(engine, objective, split_rows(builder(chunk)))
        epoch = int(chunk["epoch"][-1]) + 1
        if epoch % 10 == 0 or chunk is chunks[-1]:
            objective.generate(engine.module, questions, bench.spec.eval.max_new_tokens, bench.spec.eval.batch_size)
    return {"setup_mb": setup, "peak_mb": peak_rss_mb(), "steps": len(plan.rows(0))}


def run(settings: Settings) -> list[Figure]:
    """Figure 7, measured in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "--epochs", str(settings.memory_epochs), "--threads", str(settings.threads)],
        cwd=REPO, capture_output=True, text=True, timeout=900, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"}, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"memory benchmark child failed:\n{result.stderr[-3000:]}")
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    return [Figure(
        "7", "peak RSS, tiny trial loop (masked_ar)", stats["peak_mb"], "MB", "same process before the first step", stats["setup_mb"], "MB",
        stats["peak_mb"] / stats["setup_mb"], notes=f"{stats['steps']} steps over {settings.memory_epochs} epochs + evaluations, {settings.threads} thread(s)",
    )]


def main() -> None:
    parser = argparse.ArgumentParser(description="child of figure 7: run the tiny trial loop, print peak RSS as JSON")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(child(args.epochs, args.threads)))


if __name__ == "__main__":
    main()
