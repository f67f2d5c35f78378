"""Where the platform step's time goes: ablations of figure 1 and a target for py-spy.

    python -m benchmarks.profile_step ablate            # time the step with one difference removed at a time
    py-spy record -r 200 -f raw -o /tmp/step.txt -- python -m benchmarks.profile_step loop --which platform

The ablations start from the platform step and remove one thing the bare loop does not do
(gradient clipping, the two parameter groups, the scheduler, the per-step numpy -> torch
conversion and token count), each timed in interleaved repetitions with the bare loop on
the same batches and initial weights.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import Workbench, clone, median
from benchmarks.train_loop import WARMUP_STEPS, BareLoop, PlatformLoop
from platform.engine import Engine


class Variant(PlatformLoop):
    """The platform loop with one feature switched off."""

    def __init__(self, base: PlatformLoop, drop: str) -> None:
        super().__init__(base.engine, base.objective, base.batches)
        self.drop = drop
        if drop == "param groups":
            groups = base.engine.optimizer.param_groups
            params = [p for g in groups for p in g["params"]]
            optimizer = torch.optim.AdamW(
                params, lr=groups[0]["lr"], betas=groups[0]["betas"], weight_decay=groups[0]["weight_decay"]
            )
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
            self.engine = Engine(base.engine.model, base.engine.module, optimizer, scheduler, base.engine.grad_clip)
        if drop == "grad clipping":
            self.engine.grad_clip = None
        if drop == "scheduler":
            self.engine.scheduler = _NoScheduler()


class _NoScheduler:
    def step(self) -> None:
        return None


def ablate(reps: int, epochs: int) -> None:
    torch.set_num_threads(1)
    bench = Workbench()
    ar = bench.objective("ar")
    batches = bench.batches(ar, epochs)
    base = bench.model()
    loops = {"bare": BareLoop.create(clone(base), bench.spec, batches)}
    loops["platform"] = PlatformLoop.create(clone(base), bench.spec, ar, batches)
    for drop in ("grad clipping", "param groups", "scheduler"):
        loops[f"platform - {drop}"] = Variant(PlatformLoop.create(clone(base), bench.spec, ar, batches), drop)
    for loop in loops.values():
        loop.run(WARMUP_STEPS)
    times: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            start = time.perf_counter()
            loops[name].run()
            times[name].append((time.perf_counter() - start) / len(batches))
    bare = median(times["bare"])
    for name in names:
        step = median(times[name])
        print(f"{name:32s} {step * 1e3:7.2f} ms/step  {step / bare:5.3f}x bare")


def loop(which: str, epochs: int, repeat: int) -> None:
    """Run one loop for py-spy: ``repeat`` passes over ``epochs`` epochs of ar batches."""
    torch.set_num_threads(1)
    bench = Workbench()
    ar = bench.objective("ar")
    batches = bench.batches(ar, epochs)
    model = bench.model()
    runner = (
        BareLoop.create(model, bench.spec, batches)
        if which == "bare"
        else PlatformLoop.create(model, bench.spec, ar, batches)
    )
    for _ in range(repeat):
        runner.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("ablate")
    a.add_argument("--reps", type=int, default=7)
    a.add_argument("--epochs", type=int, default=10)
    p = sub.add_parser("loop")
    p.add_argument("--which", choices=["bare", "platform"], default="platform")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.command == "ablate":
        ablate(args.reps, args.epochs)
    else:
        loop(args.which, args.epochs, args.repeat)


if __name__ == "__main__":
    main()
