"""A third-party objective, pip-installed as its own package, is found by name and conforms."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.conftest import REPO, run_cli, trial_runs

EXAMPLE = REPO / "examples" / "kip-plugin-example"

CHECK = textwrap.dedent(
    """
    from objectives.conformance import assert_conforms
    from objectives.registry import load_reference, resolve

    reference = resolve("span_masked_ar")
    assert reference == "kip_plugin_example.span_masked:SpanMaskedAR", reference
    objective_cls = load_reference(reference)
    assert_conforms(objective_cls)
    assert_conforms(objective_cls, options={"mean_span": 1.0})
    print("ok", objective_cls.__module__)
    """
)


@pytest.mark.integration
def test_example_plugin_installs_resolves_by_entry_point_and_conforms(tmp_path, shared_cluster):
    # Build from a copy: pip builds in the source tree and would leave build/ and *.egg-info there.
    source = shutil.copytree(EXAMPLE, tmp_path / "kip-plugin-example")
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", str(source)]
    installed = subprocess.run(install, capture_output=True, text=True, timeout=300)
    try:
        assert installed.returncode == 0, installed.stderr
        # A fresh interpreter: entry points are read from the environment as it is now.
        checked = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.split() == ["ok", "kip_plugin_example.span_masked"]

        # ...and runs in a real sweep trial, by name, with no change to the core
        home = tmp_path / "home"
        swept = run_cli(
            "platform.sweep",
            str(REPO / "tests" / "specs" / "tiny.yaml"),
            "--set",
            "search.grid={objective.name: [span_masked_ar]}",
            "--set",
            "tracking.experiment=plugin",
            env={"KIP_HOME": str(home), **shared_cluster},
        )
        assert swept.returncode == 0, swept.stdout[-3000:] + swept.stderr[-3000:]
        client, runs = trial_runs(home, "plugin")
        assert [(r.data.tags["objective"], r.info.status) for r in runs] == [("span_masked_ar", "FINISHED")]
        assert len(client.get_metric_history(runs[0].info.run_id, "backward_acc")) == 2
    finally:  # the project's venv is the user's: leave no plugin registered in it
        uninstall = [sys.executable, "-m", "pip", "uninstall", "-y", "-q", "kip-plugin-example"]
        subprocess.run(uninstall, capture_output=True, text=True, timeout=300, check=True)


def test_span_mask_masks_t_of_the_document_in_runs(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    from kip_plugin_example.span_masked import span_mask

    masked = span_mask(200, np.random.default_rng(0), 0.3, mean_span=4.0)
    assert masked.sum() == 60
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], masked.astype(int), [0]]))))[::2]
    assert runs.mean() > 2  # contiguous spans, not independent tokens
    assert span_mask(10, np.random.default_rng(0), 1.0, 3.0).all()
    assert not span_mask(10, np.random.default_rng(0), 0.0, 3.0).any()
