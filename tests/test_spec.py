"""Spec loading: inheritance, overrides, and errors that name the field or file."""

from __future__ import annotations

import pytest

from platform.errors import UserError
from platform.spec import apply_overrides, load_spec
from tests.conftest import REPO, run_cli


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_base_inheritance_merges_mappings(tmp_path):
    write(tmp_path, "parent.yaml", "name: parent\ntrain: {lr: 0.001, epochs: 7}\n")
    child = write(tmp_path, "child.yaml", "base: parent.yaml\nname: child\ntrain: {epochs: 9}\n")
    spec = load_spec(child)
    assert (spec.name, spec.train.lr, spec.train.epochs) == ("child", 0.001, 9)


def test_overrides_by_dotted_path(tmp_path):
    path = write(tmp_path, "s.yaml", "objective: {name: masked_ar}\n")
    spec = load_spec(path, {"train.lr": 5e-4, "objective.mask_ratio.kind": "fixed"})
    assert spec.train.lr == 5e-4 and spec.objective.mask_ratio.kind == "fixed"
    trial = apply_overrides(spec, {"train.seed": 3}, "trial")
    assert trial.train.seed == 3 and spec.train.seed == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train: {learning_rate: 0.1}\n", "train.learning_rate: unknown key"),
        ("train: {lr: fast}\n", "train.lr"),
        ("train: {lr: -1}\n", "train.lr"),
        ("objective: {mask_ratio: {low: 0.9, high: 0.1}}\n", "objective.mask_ratio"),
        ("search: {parameters: {train.lr: {type: loguniform, low: 0, high: 1}}}\n", "low > 0"),
        ("model: {source: huggingface}\n", "model.path is required"),
        ("- just\n- a list\n", "expected a mapping"),
        ("train: {lr: [1, 2\n", "invalid YAML"),
    ],
)
def test_mistakes_name_the_field(tmp_path, text, expected):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(UserError) as error:
        load_spec(path)
    assert expected in str(error.value)
    assert "bad.yaml" in str(error.value)


def test_missing_file_and_base_loop(tmp_path):
    with pytest.raises(UserError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml")
    write(tmp_path, "a.yaml", "base: b.yaml\n")
    write(tmp_path, "b.yaml", "base: a.yaml\n")
    with pytest.raises(UserError, match="chain loops"):
        load_spec(tmp_path / "a.yaml")


def test_eval_epochs_always_include_the_last(tmp_path):
    spec = load_spec(write(tmp_path, "s.yaml", "train: {epochs: 60}\neval: {every: 25}\n"))
    assert spec.eval_epochs() == [25, 50, 60]


def test_cli_user_error_exits_2_without_traceback(tmp_path):
    path = write(tmp_path, "bad.yaml", "train: {lr: fast}\n")
    out = run_cli("platform.sweep", str(path), "--dry-run", timeout=120)
    assert out.returncode == 2
    assert "train.lr" in out.stderr and "Traceback" not in out.stderr


def test_cli_unknown_objective_lists_known_ones(tmp_path):
    path = write(tmp_path, "bad.yaml", "objective: {name: nope}\n")
    out = run_cli("platform.sweep", str(path), "--dry-run", timeout=120)
    assert out.returncode == 2
    assert "unknown objective 'nope'" in out.stderr and "masked_ar" in out.stderr
    assert "Traceback" not in out.stderr


def test_dry_run_lists_trials():
    out = run_cli("platform.sweep", str(REPO / "search_spaces" / "lr.yaml"), "--dry-run", timeout=120)
    assert out.returncode == 0, out.stderr
    assert "6 trial(s)" in out.stdout and "masked_ar" in out.stdout


def test_a_wrong_model_path_is_refused_before_any_work(tmp_path, shared_cluster):
    """Refused by the run itself, not only by the dry run; on the shared cluster, as the refusal
    comes before the driver needs one (a sweep's own cluster would start beside the checks)."""
    from transformers import LlamaConfig

    spec = tmp_path / "hf.yaml"
    spec.write_text(
        f"base: {REPO / 'tests' / 'specs' / 'tiny.yaml'}\nmodel: {{source: huggingface, path: {tmp_path / 'empty'}}}\n"
    )
    (tmp_path / "empty").mkdir()
    env = {"KIP_HOME": str(tmp_path / "home"), **shared_cluster}
    out = run_cli("platform.sweep", str(spec), env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert f"model.path ({tmp_path / 'empty'}): cannot load the model's config" in out.stderr
    LlamaConfig(
        vocab_size=10, hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1
    ).save_pretrained(tmp_path / "empty")
    out = run_cli("platform.sweep", str(spec), env=env)
    assert out.returncode == 2 and "cannot load tokenizer" in out.stderr, out.stderr[-2000:]
