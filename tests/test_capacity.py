"""Resource checks before any trial starts, and the dry-run's memory estimate."""

from __future__ import annotations

import pytest

from platform.capacity import check_cluster_fits, memory_per_worker_gb, parameter_count
from platform.errors import UserError
from platform.spec import ExperimentSpec


def spec(**resources) -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {
            "model": {"source": "huggingface", "path": "meta-llama/Llama-3.1-8B-Instruct", "dtype": "bfloat16"},
            "train": {"batch_size": 64},
            "resources": {"num_workers": 8, "gpus_per_worker": 1, "strategy": "deepspeed", **resources},
        }
    )


def test_cluster_too_small_is_refused_naming_the_resource():
    with pytest.raises(UserError, match=r"resources: a trial needs 8 GPU .* the Ray cluster has 4"):
        check_cluster_fits(spec(), {"CPU": 64, "GPU": 4})
    check_cluster_fits(spec(), {"CPU": 64, "GPU": 8})


def test_zero_memory_accounting():
    params = parameter_count(spec())
    assert params == 8e9
    # 16 bytes/param of mixed-precision AdamW state; ZeRO-3 shards all of it across 8 workers
    assert memory_per_worker_gb(spec(deepspeed={"zero_stage": 3}), params) == pytest.approx(16.0)
    # ZeRO-2 keeps the 16-bit weights whole: 2 + (2 + 12) / 8 bytes per parameter
    assert memory_per_worker_gb(spec(deepspeed={"zero_stage": 2}), params) == pytest.approx(8e9 * (2 + 14 / 8) / 1e9)
    assert memory_per_worker_gb(spec(deepspeed={"zero_stage": 3, "offload_optimizer": True}), params) == pytest.approx(
        8e9 * 4 / 8 / 1e9
    )
