"""The sweep's driver never trains, so it never imports torch (on the embedded model).

Why a test: torch and transformers' model classes take seconds to import (10 s on a busy
2-core machine), in every command a user runs and in every test that runs one; one stray
module-level import anywhere on the driver's path brings that back silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

DRIVER = """
import json, sys
from platform.plan import make_plan
from platform.sweep import parse_args, planned_model_dirs, sweep_id
args = parse_args([sys.argv[1]])
plan = make_plan(args)  # every check: spec, objectives, data, model, resources, MLflow store
sweep_id(plan.spec, planned_model_dirs(plan.spec, plan.stages))
plan.tracking.check_reachable(plan.spec.tracking.experiment)
from platform.trial import SweepContext, run_trial  # the trainable Tune pickles
from platform import progress, report, results, storage  # what the driver runs after
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
heavy = ("torch", "transformers.modeling_utils", "deepspeed", "platform.worker", "platform.engine")
print(json.dumps({"objectives": sorted(plan.refs), "heavy": [m for m in heavy if m in sys.modules]}))
"""


def test_the_driver_checks_every_objective_without_importing_torch(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, str(REPO / "tests" / "specs" / "every_objective.yaml")],
        cwd=REPO,
        env={**os.environ, "KIP_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert "masked_diffusion" in found["objectives"] and "masked_sft" in found["objectives"]
    assert found["heavy"] == []
