"""The floor under a sweep's fixed cost: the least that any sweep pays which trains in a new
process of a new local Ray cluster, measured with nothing of the platform's own on the way.

``python -m benchmarks.startup_floor`` starts the local cluster exactly as a sweep does
(``platform.cluster.init_ray``: the same settings, the job's working_dir, the watchdog), then
one actor with the runtime environment Ray Tune gives its trial actors (``env_vars``
``PL_DISABLE_FORK``), which imports torch and transformers' Llama, builds a tiny model and takes
one optimizer step; then it shuts Ray down and exits. No spec, no checks, no Tune, no MLflow, no
tokenizer, no data, no evaluation: a sweep command does all of these on top. It prints one JSON
line: seconds from ``BENCH_T0`` (the caller's ``time.time()`` just before it started this
process) to the first step's end, in the actor.

Why: figure 6's overhead of 10 s trials is judged against a fixed cost of a third of their
training (25% of the command's wall time). This figure says how much of that any design built
on a fresh cluster and a fresh trial process could reach on this machine.
"""

from __future__ import annotations

import json
import os
import time

import ray

from platform.cluster import init_ray

TUNE_ACTOR_ENV = {"env_vars": {"PL_DISABLE_FORK": "1"}}
"""What ``ray/tune/execution/class_cache.py`` gives every trial actor (plus variables it
propagates only when the driver has them set). Written out, not imported from there: importing
``ray.tune`` would put its second back into the floor."""


@ray.remote(num_cpus=1, runtime_env=TUNE_ACTOR_ENV)
class FirstStep:
    """A trial process that does only what every trial must: import the training stack, build
    a model, step once."""

    def run(self) -> float:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
        )
        model = LlamaForCausalLM(config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        ids = torch.randint(0, config.vocab_size, (4, 32))
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        return time.time()


def main() -> None:
    started = float(os.environ.get("BENCH_T0", time.time()))
    init_ray(None)
    stepped = ray.get(FirstStep.remote().run.remote())
    ray.shutdown()
    print(json.dumps({"first_step_s": stepped - started}), flush=True)


if __name__ == "__main__":
    main()
