"""What a trial needs, and whether the cluster can give it: checked before any trial starts.

Why estimate memory: a researcher dry-running a paper-scale spec wants to know whether 8B
fits on their GPUs before renting them. The estimate is the standard ZeRO accounting for
mixed-precision AdamW (Rajbhandari et al., 2020): 2 bytes of 16-bit weights and 2 of
gradients per parameter, 12 of fp32 master weights and Adam moments, each sharded by the
ZeRO stage across workers; activations are not included.
"""

from __future__ import annotations

import json
import os
import re

from platform.errors import UserError
from platform.spec import ExperimentSpec


def parameter_count(spec: ExperimentSpec, model_dir: str | None = None) -> float | None:
    """Parameters of the spec's model: from its config (``model_dir``, the checkpoint a GGUF
    file was converted to, or ``model.path``), the tiny config, or the name (8B)."""
    if spec.model.source == "smollm2":
        from platform.pretrained import SMOLLM2_PARAMETERS

        return SMOLLM2_PARAMETERS
    if spec.model.source == "embedded":
        tiny = spec.model.tiny
        per_layer = 4 * tiny.hidden_size**2 + 3 * tiny.hidden_size * tiny.intermediate_size
        return tiny.num_layers * per_layer + 1000 * tiny.hidden_size  # ~1k-word vocabulary, tied
    config_path = os.path.join(model_dir or spec.model.path or "", "config.json")
    if os.path.isfile(config_path):
        with open(config_path, encoding="utf-8") as file:
            config = json.load(file)
        hidden, layers = config.get("hidden_size"), config.get("num_hidden_layers")
        inter, vocab = config.get("intermediate_size"), config.get("vocab_size")
        if all(isinstance(v, int) for v in (hidden, layers, inter, vocab)):
            heads = config.get("num_attention_heads") or 1
            kv_width = hidden * (config.get("num_key_value_heads") or heads) // heads  # grouped-query attention
            attention = 2 * hidden**2 + 2 * hidden * kv_width
            embeddings = (1 if config.get("tie_word_embeddings") else 2) * vocab * hidden
            return layers * (attention + 3 * hidden * inter) + embeddings
    match = re.search(r"(\d+(?:\.\d+)?)[Bb]\b", spec.model.path or "")
    return float(match.group(1)) * 1e9 if match else None


def memory_per_worker_gb(spec: ExperimentSpec, params: float) -> float:
    """Estimated GB per worker for weights, gradients and optimizer states (no activations)."""
    workers = spec.resources.num_workers
    half = spec.model.dtype == "bfloat16"
    weights, grads, optimizer = (2 if half else 4) * params, (2 if half else 4) * params, (12 if half else 8) * params
    if spec.resources.strategy == "deepspeed":
        stage, ds = spec.resources.deepspeed.zero_stage, spec.resources.deepspeed
        optimizer = 0 if ds.offload_optimizer else optimizer / workers
        if stage >= 2:
            grads /= workers
        if stage == 3:
            weights = 0 if ds.offload_params else weights / workers
    return (weights + grads + optimizer) / 1e9


def local_resources() -> dict[str, float]:
    """What a local Ray cluster started on this machine will offer, counted as Ray counts it
    (CPUs within the cgroup's quota, the GPUs visible to this process), without starting it:
    so a trial that could never be placed is refused before the base model is built."""
    from ray._private.accelerators import NvidiaGPUAcceleratorManager
    from ray._private.utils import get_num_cpus

    visible = NvidiaGPUAcceleratorManager.get_current_process_visible_accelerator_ids()
    gpus = len(visible) if visible is not None else NvidiaGPUAcceleratorManager.get_current_node_num_accelerators()
    return {"CPU": float(get_num_cpus()), "GPU": float(gpus)}


def check_cluster_fits(spec: ExperimentSpec, cluster: dict[str, float]) -> None:
    """Refuse, before any trial starts, a trial the cluster could never place.

    ``cluster`` is ``ray.cluster_resources()``. An autoscaling cluster may grow: set
    ``KIP_SKIP_CAPACITY_CHECK=1`` to let Ray wait for nodes instead.
    """
    if os.environ.get("KIP_SKIP_CAPACITY_CHECK") == "1":
        return
    res = spec.resources
    needs = {"CPU": res.num_workers * res.cpus_per_worker, "GPU": res.num_workers * res.gpus_per_worker}
    for resource, needed in needs.items():
        have = cluster.get(resource, 0.0)
        if needed > have:
            raise UserError(
                f"a trial needs {needed:g} {resource} ({res.num_workers} workers x "
                f"{res.cpus_per_worker if resource == 'CPU' else res.gpus_per_worker:g}) but the Ray cluster has "
                f"{have:g}; "
                "lower resources.num_workers / cpus_per_worker / gpus_per_worker, or set KIP_SKIP_CAPACITY_CHECK=1 "
                "on an autoscaling cluster",
                where="resources",
            )
