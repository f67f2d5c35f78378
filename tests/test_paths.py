"""Where state goes: the same place for every kind of ``ray job submit``, the checkout otherwise."""

from __future__ import annotations

from pathlib import Path

from platform import REPO_ROOT
from platform.paths import state_dir


def test_state_dir_of_a_command_run_from_the_checkout(monkeypatch):
    monkeypatch.delenv("KIP_HOME", raising=False)
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    assert state_dir() == Path(REPO_ROOT)


def test_a_bare_job_submission_uses_the_jobs_state_dir_not_the_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("KIP_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", '{"runtime_env": {}}')  # as Ray's job supervisor sets it
    assert state_dir() == tmp_path / "knowledge-injection-platform"
    monkeypatch.setenv("KIP_HOME", str(tmp_path / "mine"))
    assert state_dir() == tmp_path / "mine"
