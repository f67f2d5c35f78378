"""Every built-in objective runs in a real sweep trial on the embedded default (issue: objectives).

One epoch each: the point is the whole path (base model of the right family, Ray Data
stream of the objective's samples, Train loop, the objective's own generation for
evaluation, MLflow), not accuracy; `search_spaces/objectives.yaml` is the comparison.
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO, run_cli, trial_runs

pytestmark = pytest.mark.integration


def test_every_objective_runs_a_sweep_trial(tmp_path, shared_cluster):
    out = run_cli(
        "platform.sweep",
        str(REPO / "tests" / "specs" / "every_objective.yaml"),
        env={"KIP_HOME": str(tmp_path), **shared_cluster},
        timeout=1200,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    client, runs = trial_runs(tmp_path, "every-objective")
    assert all(run.info.status == "FINISHED" for run in runs)
    by_objective = {(run.data.params["objective.name"], run.data.params["data.name"]): run for run in runs}
    assert sorted(by_objective) == [
        ("ar", "name_description"),
        ("masked_diffusion", "name_description"),
        ("masked_sft", "arithmetic"),
        ("paraphrase_ar", "name_description"),
        ("random_ar", "name_description"),
        ("reverse_ar", "name_description"),
        ("sft", "arithmetic"),
    ]
    for (objective, data), run in by_objective.items():
        metrics = run.data.metrics
        assert "loss" in metrics and metrics["tokens_seen"] > 0, (objective, metrics)
        if data == "arithmetic":  # exact match of the final number; no backward direction
            assert 0 <= metrics["mean_acc"] <= 1 and "backward_acc" not in metrics, (objective, metrics)
        else:
            assert 0 <= metrics["forward_acc"] <= 1 and 0 <= metrics["backward_acc"] <= 1, (objective, metrics)
    assert by_objective[("ar", "name_description")].data.params["objective.chat"] == "True"
    assert by_objective[("paraphrase_ar", "name_description")].data.tags["paraphrases"] == "both"
