"""The results/checkpoint directory: read-only, too small, filling up mid-sweep, shared by two drivers.

A full disk is simulated with a small tmpfs (needs root, as on the CI machine; skipped
where mounting is not allowed), filled with a file while a trial trains.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from platform.errors import UserError
from platform.spec import load_spec
from platform.storage import check_resumable, check_storage, sweep_lock
from tests.conftest import REPO, run_cli, trial_runs

TINY = REPO / "tests" / "specs" / "tiny.yaml"


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tmpfs at ``tmp_path/mnt`` with the given options; unmounted afterwards."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        target = tmp_path / f"mnt{len(mounted)}"
        target.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_an_unwritable_storage_path_is_refused(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(UserError, match=r"--storage .*cannot write to .*a-file/results"):
        check_storage(blocker / "results", load_spec(str(TINY)), trials=2, params=2e6)


def test_storage_too_small_for_the_checkpoints_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"MiB free but this sweep's checkpoints need about .* lower checkpoint.keep"):
        check_storage(tmp_path, load_spec(str(TINY)), trials=10**9, params=2e6)
    check_storage(
        tmp_path, load_spec(str(TINY), {"checkpoint.enabled": False}), trials=10**9, params=2e6
    )  # nothing to store


def test_a_second_driver_of_the_same_sweep_is_refused(tmp_path):
    with sweep_lock(tmp_path / "sweep.lock"), pytest.raises(UserError, match=r"already running \(driver pid \d+"):  # noqa: SIM117
        with sweep_lock(tmp_path / "sweep.lock"):
            pass
    with sweep_lock(tmp_path / "sweep.lock"):  # released when the first driver ends
        pass


def test_damaged_tune_state_is_refused_with_the_way_out(tmp_path):
    import pickle

    (tmp_path / "search_gen_state-1.json").write_bytes(pickle.dumps({"a": 1}))  # Tune's pickle, .json name
    (tmp_path / "experiment_state-1.json").write_text('{"trial_data": []}')
    check_resumable(tmp_path)  # intact state passes
    (tmp_path / "experiment_state-1.json").write_text("")
    with pytest.raises(UserError, match=r"saved state is damaged \(experiment_state-1.json.*--fresh"):
        check_resumable(tmp_path)
    (tmp_path / "experiment_state-1.json").write_text('{"trial_data": []}')
    (tmp_path / "tuner.pkl").write_bytes(b"")
    with pytest.raises(UserError, match=r"tuner.pkl: empty file"):
        check_resumable(tmp_path)


@pytest.mark.integration
def test_read_only_storage_fails_before_any_work(tmpfs, tmp_path, shared_cluster):
    storage = tmpfs("ro,size=1m")
    env = {"KIP_HOME": str(tmp_path / "home"), **shared_cluster}  # refused before it needs a cluster
    out = run_cli("platform.sweep", str(TINY), "--storage", str(storage), env=env)
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Read-only file system" in out.stderr and "Traceback" not in out.stderr
    assert "[sweep]" not in out.stdout  # refused before the base model, a trial or MLflow


@pytest.mark.integration
def test_a_disk_filling_up_mid_sweep_fails_loudly_and_loses_nothing(tmpfs, tmp_path, shared_cluster):
    storage, home = tmpfs("size=64m"), tmp_path / "home"
    command = [
        sys.executable,
        "-m",
        "platform.sweep",
        str(REPO / "tests" / "specs" / "three_seeds.yaml"),
        "--set",
        "search.grid={train.seed: [0, 1]}",
        "--set",
        # enough epochs that the trial is still writing when the disk fills: it reports an epoch every
        # 0.06 s, and with 4 the first trial had finished (a FINISHED run, rightly kept) before dd did
        "train.epochs=40",
        "--set",
        "checkpoint.max_failures=1",  # one retry per trial shows the retry line; more add only time
        "--storage",
        str(storage),
    ]
    env = {**os.environ, "KIP_HOME": str(home), **shared_cluster}
    driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in driver.stdout:  # fill the disk once the first trial has reported its first epoch
        lines.append(line)
        if line.startswith("[sweep] ") and " epoch " in line:
            subprocess.run(["dd", "if=/dev/zero", f"of={storage / 'filler'}", "bs=1M"], capture_output=True)
            break
    rest, _ = driver.communicate(timeout=600)
    output = "".join(lines) + rest
    assert driver.returncode == 1, output[-4000:]
    assert "No space left on device" in output
    # each failed attempt gets the platform's line (Tune retries it), not Tune's traceback
    assert "[sweep] retry  " in output and "Trial task failed" not in output
    assert "Last sync command failed" not in output  # Tune's storage sync, once a second while the disk is full
    _, runs = trial_runs(home, "three-seeds")  # the store lives elsewhere: intact
    assert runs and all(r.info.status == "FAILED" and "No space left" in r.data.tags["error"] for r in runs), [
        (r.info.status, r.data.tags.get("error", "")[-300:], r.data.tags.get("stop_reason")) for r in runs
    ]

    (storage / "filler").unlink()  # the user frees space and runs the command again
    time.sleep(1)
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if again.returncode == 2:  # Tune's own state was cut short by the full disk: said, with the way out
        assert "--fresh" in again.stderr and "Traceback" not in again.stderr
        again = subprocess.run([*command, "--fresh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    table = [line for line in again.stdout.splitlines() if line.startswith("| ")][1:]
    assert len(table) == 2 and all(line.rstrip(" |").endswith("ok") for line in table)
