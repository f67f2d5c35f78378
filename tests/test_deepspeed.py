"""DeepSpeed ZeRO-2 and ZeRO-3 under Ray Train with 2 CPU workers (gloo), against ZeRO-2 on 1
worker; and a DeepSpeed engine on CPU that compiles no C++ op before its first step."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli, trial_runs

pytestmark = pytest.mark.integration


def test_zero2_zero3_two_workers_and_one_vs_two_workers_agree(tmp_path, shared_cluster):
    spec = str(REPO / "tests" / "specs" / "deepspeed.yaml")
    out = run_cli("platform.sweep", spec, env={"KIP_HOME": str(tmp_path), **shared_cluster})
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    client, runs = trial_runs(tmp_path, "deepspeed-test")
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    losses = {}
    for run in runs:
        key = (run.data.params["resources.num_workers"], run.data.params["resources.deepspeed.zero_stage"])
        strategy = client.download_artifacts(run.info.run_id, "strategy.txt", str(tmp_path / run.info.run_id))
        text = Path(strategy).read_text()
        assert f'"stage": {key[1]}' in text and '"train_batch_size": 4' in text
        assert f'"train_micro_batch_size_per_gpu": {4 // int(key[0])}' in text
        losses[key] = [m.value for m in client.get_metric_history(run.info.run_id, "loss")]
        assert len(losses[key]) == 2
    # same global batches and seed: 1 and 2 workers, ZeRO-2 and ZeRO-3, follow the same loss curve
    assert sorted(losses) == [("1", "2"), ("2", "2"), ("2", "3")]
    for key in (("2", "2"), ("2", "3")):
        assert losses[key] == pytest.approx(losses[("1", "2")], rel=0.03)


ENGINE_ON_ONE_RANK = textwrap.dedent(
    """
    import os, torch, torch.distributed as dist
    from platform.engine import build_engine
    from platform.spec import ExperimentSpec

    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:0", rank=0, world_size=1)
    spec = ExperimentSpec(model={"tiny": {"hidden_size": 8, "num_layers": 1, "num_heads": 1, "intermediate_size": 8}},
                          resources={"strategy": "deepspeed", "deepspeed": {"zero_stage": 2}})
    model = torch.nn.Linear(4, 4)
    engine = build_engine(spec, model, total_steps=2, micro_batch=16, prepare_model=None)
    engine.step(model(torch.ones(16, 4)).square().mean())
    from deepspeed.comm import comm
    print("shm op:", comm.cdb.shm_comm_op)
    """
)


def test_a_deepspeed_engine_on_cpu_compiles_no_op(tmp_path):
    """DeepSpeed's CPU backend would JIT-compile its inference all-reduce (44 s of C++ on 2
    cores, per venv) before a ZeRO step that never calls it; ``platform.engine`` skips it."""
    extensions = tmp_path / "torch_extensions"
    out = subprocess.run(
        [sys.executable, "-c", ENGINE_ON_ONE_RANK],
        cwd=REPO,
        env={**os.environ, "TORCH_EXTENSIONS_DIR": str(extensions)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "shm op: None" in out.stdout
    assert not extensions.exists() or not any(extensions.iterdir())
