"""Figure 4: the cost of producing masked micro-batches, in process and through Ray Data.

In process: ``MicroBatchBuilder.__call__`` on chunks of 16 plan rows (as ``map_batches``
calls it), divided per micro-batch (one micro-batch = one global step with one worker), set
against the platform step time of the same objective (figure 3). Through Ray Data: the
trial's own ``build_streams`` on a local ``ray.init(num_cpus=2)``, iterated as the worker
iterates it (``iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=4)``) with
no training, so the rate is the most the stream can deliver.
"""

from __future__ import annotations

import os
import time

from benchmarks.common import Figure, Settings, Workbench, median, plan_chunks, timed


def builder_seconds_per_micro_batch(bench: Workbench, name: str, settings: Settings) -> float:
    """Median over repetitions of the builder's time per micro-batch (over the whole plan)."""
    objective = bench.objective(name)
    builder = bench.builder(objective, settings.epochs)
    chunks = plan_chunks(bench.plan(objective, settings.epochs))
    rows = sum(len(c["epoch"]) for c in chunks)
    for chunk in chunks[:1]:  # warm-up
        builder(chunk)
    return median([timed(lambda: [builder(c) for c in chunks])[0] / rows for _ in range(settings.reps)])


def start_local_ray(env: dict | None, attempts: int = 2) -> None:
    """``ray.init`` of a new local 2-CPU cluster, retried: on a loaded machine its agents can time out."""
    import ray

    for attempt in range(attempts):
        try:
            ray.init(
                address="local",
                num_cpus=2,
                include_dashboard=False,
                runtime_env=env,
                log_to_driver=False,
                logging_level="WARNING",
            )
            return
        except Exception:
            ray.shutdown()
            if attempt == attempts - 1:
                raise
            print("[4] ray.init failed (node startup timed out?), retrying once", flush=True)


def ray_data_rate(bench: Workbench, name: str, epochs: int) -> dict[str, float]:
    """Samples/s of the trial's Ray Data stream on a fresh local cluster (startup reported apart)."""
    import ray

    from platform.cluster import runtime_env
    from platform.data.stream import build_streams

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    objective = bench.objective(name)
    plan = bench.plan(objective, epochs)
    builder = bench.builder(objective, epochs)
    env = {key: value for key, value in os.environ.items() if key == "RAY_ADDRESS"}
    for key in env:  # a local cluster of our own, never someone else's
        del os.environ[key]
    started = time.perf_counter()
    try:
        start_local_ray(runtime_env())
        init_s = time.perf_counter() - started
        stream = build_streams(builder, plan)["train_rank0"]
        start = time.perf_counter()
        first = None
        samples = first_samples = 0
        for batch in stream.iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=4):
            samples += len(batch["input_ids"][0])
            if first is None:
                first, first_samples = time.perf_counter(), samples
        end = time.perf_counter()
    finally:
        ray.shutdown()
        os.environ.update(env)
    return {
        "init_s": init_s,
        "first_batch_s": first - start,
        "steady_samples_per_s": (samples - first_samples) / max(end - first, 1e-9),
        "samples": samples,
    }


def run(bench: Workbench, settings: Settings, step_seconds: dict[str, float], with_ray: bool = True) -> list[Figure]:
    """Figure 4 rows: batch production share of the step, builder and Ray Data rates vs consumption."""
    batch = bench.spec.train.batch_size
    figures = []
    per_batch = {
        name: builder_seconds_per_micro_batch(bench, name, settings) for name in ("ar", "masked_ar", "masked_diffusion")
    }
    share = per_batch["masked_ar"] / step_seconds["masked_ar"]
    others = "; ".join(
        f"{n}: {per_batch[n] * 1e3:.2f} ms = {per_batch[n] / step_seconds[n]:.1%} of its step"
        for n in ("ar", "masked_diffusion")
    )
    figures.append(
        Figure(
            "4",
            "masked-batch production (MicroBatchBuilder, masked_ar)",
            per_batch["masked_ar"] * 1e3,
            "ms/micro-batch",
            "masked_ar training step",
            step_seconds["masked_ar"] * 1e3,
            "ms/step",
            share,
            "< 3% of step",
            share < 0.03,
            others,
        )
    )
    consumed = batch / step_seconds["masked_ar"]
    builder_rate = batch / per_batch["masked_ar"]
    figures.append(
        Figure(
            "4",
            "stream rate, in-process builder (masked_ar)",
            builder_rate,
            "samples/s",
            "samples/s a training step consumes",
            consumed,
            "samples/s",
            builder_rate / consumed,
            ">= 10x",
            builder_rate / consumed >= 10,
        )
    )
    if with_ray:
        try:
            ray_stats = ray_data_rate(bench, "masked_ar", settings.stream_epochs)
        except Exception as error:  # e.g. "node timed out during startup" on an overloaded machine
            print(f"[4] stream rate, Ray Data: SKIPPED, the local Ray cluster did not start: {error}", flush=True)
            figures[
                -1
            ].notes = f"Ray Data rate not measured: local ray.init failed ({type(error).__name__}: {str(error)[:120]})"
            return figures
        rate = ray_stats["steady_samples_per_s"]
        figures.append(
            Figure(
                "4",
                "stream rate, Ray Data build_streams (masked_ar)",
                rate,
                "samples/s",
                "samples/s a training step consumes",
                consumed,
                "samples/s",
                rate / consumed,
                ">= 10x",
                rate / consumed >= 10,
                f"{ray_stats['samples']} samples; rate after the first batch; first batch after "
                f"{ray_stats['first_batch_s']:.2f} s, "
                f"ray.init {ray_stats['init_s']:.1f} s",
            )
        )
    return figures
