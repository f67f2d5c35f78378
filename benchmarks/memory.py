"""Figure 7: peak memory (RSS) of a process running the tiny trial loop.

The parent runs ``python -m benchmarks.memory`` twice, each in a fresh subprocess (so nothing
the other benchmarks allocated counts):

- ``--mode platform``: imports the platform, builds the tokenizer and the tiny default model,
  then runs the trial loop of ``platform/worker.py`` for ``masked_ar``: the platform step over
  the masked micro-batches (built in process by ``MicroBatchBuilder``, 16 plan rows at a time
  as Ray Data hands them over), with an evaluation (``objective.generate`` on every test
  question) every 10 epochs and after the last;
- ``--mode bare`` (the baseline): a bare PyTorch process, ``torch`` and ``transformers``
  only, the same ``LlamaConfig`` and as many AdamW steps on random batches of the same shape.

Peak RSS is read at checkpoints (after the imports, before the first step, at the end) from
``VmHWM``, the peak that ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` would report for a
process started from a shell (see ``peak_rss_mb``: ru_maxrss inherits the parent's peak).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the bare child must not import the platform: no module-level imports of it
    from benchmarks.common import Figure, Settings

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """This process image's peak resident set size, in MiB.

    ``getrusage(RUSAGE_SELF).ru_maxrss`` survives ``execve``: a child started by a parent
    holding 1 GB reports at least the parent's RSS at fork time (Linux keeps the maximum in
    the signal struct across exec). ``VmHWM`` of ``/proc/self/status`` is the same peak for
    the current image only, so it is used when available; both agree in a process started
    from a small parent (a shell).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def platform_child(epochs: int, threads: int) -> dict[str, Any]:
    """The tiny trial loop in this process: peak RSS at each checkpoint, and the batch shape."""
    import torch

    torch.set_num_threads(threads)
    from benchmarks.common import Workbench, plan_chunks, split_rows
    from benchmarks.train_loop import platform_engine, platform_steps

    imports = peak_rss_mb()
    bench = Workbench()
    objective = bench.objective("masked_ar")
    builder = bench.builder(objective, epochs)
    plan = bench.plan(objective, epochs)
    model = bench.model()
    engine = platform_engine(model, bench.spec, plan.steps_per_epoch() * epochs)
    questions = [q.question for q in bench.corpus.questions]
    chunks = plan_chunks(plan)
    setup = peak_rss_mb()
    length = 0
    for chunk in chunks:  # 16 micro-batches at a time, as Ray Data hands them to the worker
        batches = split_rows(builder(chunk))
        length = max(length, *(b["input_ids"].shape[1] for b in batches))
        platform_steps(engine, objective, batches)
        if (int(chunk["epoch"][-1]) + 1) % 10 == 0 or chunk is chunks[-1]:
            objective.generate(engine.module, questions, bench.spec.eval.max_new_tokens, bench.spec.eval.batch_size)
    return {
        "imports_mb": imports,
        "setup_mb": setup,
        "peak_mb": peak_rss_mb(),
        "steps": len(plan.rows(0)),
        "config": model.config.to_dict(),
        "batch": bench.spec.train.batch_size,
        "length": length,
    }


def bare_child(steps: int, threads: int, config: dict[str, Any], batch: int, length: int) -> dict[str, Any]:
    """A bare PyTorch training process of the same model and batch shape (random tokens)."""
    import torch
    import torch.nn.functional as F
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(threads)
    imports = peak_rss_mb()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig.from_dict(config))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    setup = peak_rss_mb()
    for _ in range(steps):
        ids = torch.randint(0, config["vocab_size"], (batch, length))
        logits = model(input_ids=ids).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return {"imports_mb": imports, "setup_mb": setup, "peak_mb": peak_rss_mb(), "steps": steps}


def _child(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"memory benchmark child {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(settings: Settings) -> list[Figure]:
    """Figure 7: the platform's trial-loop process against a bare PyTorch process."""
    from benchmarks.common import Figure

    threads = str(settings.threads)
    plat = _child("--mode", "platform", "--epochs", str(settings.memory_epochs), "--threads", threads)
    bare = _child(
        "--mode",
        "bare",
        "--steps",
        str(plat["steps"]),
        "--threads",
        threads,
        "--config",
        json.dumps(plat["config"]),
        "--batch",
        str(plat["batch"]),
        "--length",
        str(plat["length"]),
    )
    return [
        Figure(
            "7",
            "peak RSS, tiny trial loop (masked_ar)",
            plat["peak_mb"],
            "MB",
            "bare PyTorch training process, same model and shapes",
            bare["peak_mb"],
            "MB",
            plat["peak_mb"] / bare["peak_mb"],
            notes=(
                f"{plat['steps']} steps over {settings.memory_epochs} epochs + evaluations, {settings.threads} "
                "thread(s); "
                f"platform peak after imports {plat['imports_mb']:.0f} MB, before the first step "
                f"{plat['setup_mb']:.0f} MB; "
                f"bare after imports {bare['imports_mb']:.0f} MB, before the first step {bare['setup_mb']:.0f} MB"
            ),
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="child of figure 7: one training process, peak RSS printed as JSON")
    parser.add_argument("--mode", choices=["platform", "bare"], required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--config", default="{}", help="bare mode: the LlamaConfig as JSON")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=36)
    args = parser.parse_args()
    if args.mode == "platform":
        stats = platform_child(args.epochs, args.threads)
    else:
        stats = bare_child(args.steps, args.threads, json.loads(args.config), args.batch, args.length)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
