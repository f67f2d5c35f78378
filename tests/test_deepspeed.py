"""DeepSpeed ZeRO-2 and ZeRO-3 under Ray Train with 2 CPU workers (gloo), against ZeRO-2 on 1 worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.integration


def test_zero2_zero3_two_workers_and_one_vs_two_workers_agree(tmp_path, shared_cluster):
    spec = str(REPO / "tests" / "specs" / "deepspeed.yaml")
    out = run_cli("platform.sweep", spec, env={"KIP_HOME": str(tmp_path), **shared_cluster})
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("deepspeed-test")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.kind = 'trial'")
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
