"""Every mistake caught before any work, in the order a user fixes things, by the dry run too.

Each case is run as a user runs it (the CLI in-process, or a subprocess where the point is
that no work started): exit 2, one line naming the field or file, no traceback.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform.cli import main_guard
from platform.errors import UserError
from platform.spec import ExperimentSpec, load_spec, validate
from platform.sweep import main as sweep_main
from tests.conftest import REPO, run_cli

DEFAULTS = REPO / "search_spaces" / "defaults.yaml"
PAPER_FIXTURES = REPO / "tests" / "fixtures" / "paper"


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main_guard(sweep_main)(list(args))
    return code, out.getvalue(), err.getvalue()


def spec_file(tmp_path: Path, text: str, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(f"base: {DEFAULTS}\n{text}")
    return str(path)


def refused(args: list[str], expected: str) -> str:
    code, _, err = cli(*args, "--dry-run")
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err, err
    assert expected in err, err
    return err


# --- values that pass the types but cannot work ---------------------------------------


def test_a_world_larger_than_its_names_is_refused(tmp_path):
    refused(
        [spec_file(tmp_path, "data: {world: {num_known: 1953, num_new: 48}}\n")],
        "data.world: num_known + num_new is 2001, but the name_description world can hold at most 2000 people",
    )


def test_a_grid_over_the_base_stage_is_refused(tmp_path):
    refused(
        [spec_file(tmp_path, "search: {grid: {model.base_pretrain.epochs: [10, 20]}}\n")],
        "search varies model.base_pretrain.epochs, but the base stage is built once per sweep",
    )


def test_cells_sharing_a_base_stage_across_worlds_are_refused(tmp_path):
    """A base stage is built once, from one world's known part: a cell on another world seed
    would fine-tune from a base model that may have read its new people's documents."""
    refused(
        [spec_file(tmp_path, "search: {grid: {data.world.seed: [0, 1]}}\n")],
        "the cells fine-tuning from base stage 'causal' use different worlds",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train: {betas: [0.9, 1.0]}\n", "train.betas: each beta must be in [0, 1), got 1.0"),
        ("train: {betas: [-0.1, 0.95]}\n", "train.betas"),
        ("eval: {epochs: [-1, 10]}\n", "eval.epochs [-1] outside the run"),
        (
            "train: {epochs: 20}\neval: {epochs: [10, 50]}\n",
            "eval.epochs [50] outside the run: epochs are 0 (before training) to train.epochs (20)",
        ),
        ("train: {epochs: 1000000000}\n", "train.epochs"),
        ("train: {batch_size: 10000000}\n", "train.batch_size"),
        ("eval: {max_new_tokens: 1000000}\n", "eval.max_new_tokens"),
        ("resources: {cpus_per_worker: 100000}\n", "resources.cpus_per_worker"),
        ("train: {lr: 30}\n", "train.lr"),
        ("search: {grid: {train.lr: []}}\n", "grid axis 'train.lr' has no values"),
        ("search: {cells: []}\n", "search.cells: an empty list would run no trials"),
        ('checkpoint: {enabled: "false"}\n', "checkpoint.enabled: Input should be a valid boolean (got 'false')"),
        ('model: {trust_remote_code: "no"}\n', "model.trust_remote_code"),
    ],
)
def test_values_that_cannot_work_are_refused(tmp_path, text, expected):
    refused([spec_file(tmp_path, text)], expected)


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("name: x\ntrain:\n  lr: 1.0e-4\n  epochs: 5\n  lr: 3.0e-4\n")
    refused([str(path)], "twice.yaml: line 5: invalid YAML: key 'lr' given twice (lines 3 and 5); keep one")


def test_an_empty_spec_file_is_refused(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    refused([str(path)], "empty.yaml: the spec file is empty")


@pytest.mark.parametrize("value", ["train.lr=[1, 2", "train.lr={a: ", "search.grid={objective.name: [ar, masked_ar}"])
def test_a_malformed_set_value_is_one_line(value):
    err = refused([str(DEFAULTS), "--set", value], "--set: ")
    assert "not valid YAML" in err and value in err


def test_spec_only_needs_dry_run():
    code, _, err = cli(str(DEFAULTS), "--spec-only")
    assert code == 2 and "--spec-only" in err


# --- checks that used to run late -------------------------------------------------------


def test_a_trial_the_cluster_cannot_place_is_refused_before_the_base_model(tmp_path, shared_cluster):
    """The capacity check runs before the base model build (not after it, minutes later): by
    the run on a cluster it joins, and by the dry run on the local cluster it would start."""
    spec = spec_file(tmp_path, "resources: {cpus_per_worker: 64}\n")
    cache = tmp_path / "cache"
    env = {"KIP_HOME": str(tmp_path), "KIP_CACHE_DIR": str(cache), **shared_cluster}
    out = run_cli("platform.sweep", spec, env=env, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "resources: a trial needs 64 CPU (1 workers x 64) but the Ray cluster has" in out.stderr
    assert "[base]" not in out.stdout and not any(cache.glob("**/config.json")), out.stdout
    refused([spec], "resources: a trial needs 64 CPU")  # and the dry run says the same


def test_a_gpu_trial_on_a_machine_without_gpus_is_refused_by_the_dry_run(tmp_path):
    refused([spec_file(tmp_path, "resources: {gpus_per_worker: 1}\n")], "resources: a trial needs 1 GPU")


def test_an_objectives_missing_paraphrase_file_is_found_by_the_dry_run(tmp_path):
    """paraphrase_ar asks for reordered paraphrases the data does not have: found before any
    trial (it used to fail inside each trial)."""
    spec = spec_file(
        tmp_path,
        (
            f"data: {{source: paper, name: name_description, path: {PAPER_FIXTURES}}}\n"
            "objective: {name: paraphrase_ar, paraphrases: reordered}\n"
        ),
    )
    refused([spec], "no 'reordered' paraphrase files")


def test_a_mask_token_outside_the_vocabulary_is_found_by_the_dry_run(tmp_path):
    spec = spec_file(tmp_path, "model: {mask_token: '<no-such-token>'}\nobjective: {name: masked_ar}\n")
    refused([spec], "model.mask_token: mask token '<no-such-token>' is not in the tokenizer's vocabulary")


def test_the_model_path_is_checked_before_the_disk_space_its_name_suggests(tmp_path):
    """A missing 70B checkpoint is named as missing, not met by a disk-space guess from its name."""
    spec = spec_file(tmp_path, "model: {source: huggingface, path: ./checkpoints/Llama-3.1-70B}\n")
    err = refused(
        [spec, "--storage", str(tmp_path / "results")],
        f"model.path ({tmp_path / 'checkpoints' / 'Llama-3.1-70B'}): no such directory",
    )
    assert "MiB free" not in err


def test_a_hub_id_not_in_the_local_cache_is_refused_offline(tmp_path, monkeypatch):
    """Offline as a user sets it, in the environment, and in huggingface_hub's constants too:
    they are read once, at its first import, which an earlier test of this process may have
    done. Without them the check waited on the network (24 s in the suite, 3 s alone)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    refused(
        [spec_file(tmp_path, "model: {source: huggingface, path: example-org/not-cached-model}\n")],
        "model.path (example-org/not-cached-model): cannot load the model's config",
    )


def test_the_dry_run_prints_what_it_found(tmp_path):
    code, out, err = cli(str(REPO / "search_spaces" / "lr.yaml"), "--dry-run", "--storage", str(tmp_path))
    assert code == 0, err
    assert "data (world name_description, paraphrases none): 48 documents, 96 questions" in out
    assert "  NameIsDescription/N2D: 24 questions" in out and "  DescriptionIsName/D2N: 24 questions" in out
    assert "model size: ~1.96M parameters" in out
    assert "resources: local Ray cluster (started by the sweep): " in out and f"storage {tmp_path}" in out
    assert "MLflow: sqlite:///" in out and "answers" in out


def test_the_dry_run_finds_an_unreachable_mlflow_server(tmp_path):
    spec = spec_file(tmp_path, "tracking: {uri: 'http://127.0.0.1:9'}\n")  # port 9 (discard): nothing listens
    refused([spec], "tracking.uri: cannot reach the MLflow tracking store 'http://127.0.0.1:9'")


# --- relative paths ----------------------------------------------------------------------


def test_relative_paths_are_relative_to_the_spec_file_and_set_ones_to_the_working_directory(tmp_path, monkeypatch):
    folder = tmp_path / "experiments"
    (folder / "data").mkdir(parents=True)
    (folder / "model.gguf").write_bytes(b"")
    (tmp_path / "other.gguf").write_bytes(b"")
    path = folder / "spec.yaml"
    path.write_text(
        "data: {source: paper, name: name_description, path: data}\nmodel: {source: gguf, path: model.gguf}\n"
    )
    monkeypatch.chdir(tmp_path)
    spec = load_spec(path)
    assert spec.data.path == str(folder / "data") and spec.model.path == str(folder / "model.gguf")
    assert load_spec(path, {"model.path": "other.gguf"}).model.path == str(tmp_path / "other.gguf")
    # a base file's paths are relative to the base file, not to the file extending it
    child = tmp_path / "child" / "spec.yaml"
    child.parent.mkdir()
    child.write_text(f"base: {path}\nname: child\n")
    assert load_spec(child).data.path == str(folder / "data")
    # a hub id stays a hub id
    hub = tmp_path / "hub.yaml"
    hub.write_text("model: {source: huggingface, path: meta-llama/Llama-3.1-8B-Instruct}\n")
    assert load_spec(hub).model.path == "meta-llama/Llama-3.1-8B-Instruct"


def test_a_relative_data_path_works_from_any_directory(tmp_path, monkeypatch):
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "data").symlink_to(PAPER_FIXTURES)
    (folder / "spec.yaml").write_text(
        f"base: {DEFAULTS}\ndata: {{source: paper, name: name_description, path: data}}\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(str(folder / "spec.yaml"), "--dry-run", "--storage", str(tmp_path / "results"))
    assert code == 0, err
    assert "4 documents, 16 questions" in out


# --- property tests over value ranges and cross-field rules ---------------------------


def accepted(data: dict) -> ExperimentSpec | None:
    try:
        return validate(data, "spec.yaml")
    except UserError as error:
        assert str(error).startswith("spec.yaml: "), error
        return None


@settings(max_examples=150, deadline=None)
@given(beta1=st.floats(-1, 2), beta2=st.floats(-1, 2))
def test_betas_are_accepted_exactly_in_the_unit_interval(beta1, beta2):
    assert (accepted({"train": {"betas": [beta1, beta2]}}) is not None) == (0 <= beta1 < 1 and 0 <= beta2 < 1)


@settings(max_examples=150, deadline=None)
@given(epochs=st.integers(1, 60), chosen=st.lists(st.integers(-5, 80), min_size=1, max_size=5))
def test_evaluation_epochs_inside_the_run_are_accepted_and_always_include_the_last(epochs, chosen):
    spec = accepted({"train": {"epochs": epochs}, "eval": {"epochs": chosen}})
    assert (spec is not None) == all(0 <= e <= epochs for e in chosen)
    if spec is not None:
        evaluated = spec.eval_epochs()
        assert evaluated == sorted(set(chosen) | {epochs}) and evaluated[-1] == epochs


@settings(max_examples=150, deadline=None)
@given(batch=st.integers(1, 128), workers=st.integers(1, 16))
def test_the_batch_must_split_over_the_workers(batch, workers):
    assert (accepted({"train": {"batch_size": batch}, "resources": {"num_workers": workers}}) is not None) == (
        batch % workers == 0
    )


@settings(max_examples=150, deadline=None)
@given(low=st.floats(0, 1), high=st.floats(0, 1))
def test_a_uniform_mask_ratio_needs_low_at_most_high(low, high):
    assert (accepted({"objective": {"mask_ratio": {"kind": "uniform", "low": low, "high": high}}}) is not None) == (
        low <= high
    )


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(["loguniform", "uniform", "int"]), low=st.floats(-10, 10), high=st.floats(-10, 10))
def test_a_searched_range_must_be_ordered_and_positive_when_logarithmic(kind, low, high):
    search = {"parameters": {"train.weight_decay": {"type": kind, "low": low, "high": high}}}
    valid = low < high and (kind != "loguniform" or low > 0)
    assert (accepted({"search": search}) is not None) == valid


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(["train.epochs", "train.batch_size", "eval.every", "eval.batch_size", "resources.num_workers"]),
    value=st.integers(-10, 10**12),
)
def test_counts_outside_their_range_are_refused_naming_the_field(tmp_path, key, value):
    """Positive, and not far beyond any machine; the message names the dotted field."""
    section, field = key.split(".")
    data = {section: {field: value}}
    if key == "resources.num_workers":
        data["train"] = {"batch_size": value} if 0 < value <= 65_536 else {}
    limits = {
        "train.epochs": 100_000,
        "train.batch_size": 65_536,
        "eval.every": 100_000,
        "eval.batch_size": 65_536,
        "resources.num_workers": 100_000,
    }
    ok = 0 < value <= limits[key] and not (key == "resources.num_workers" and value > 65_536)
    try:
        validate(data, "spec.yaml")
        assert ok, (key, value)
    except UserError as error:
        assert not ok and key in str(error), (key, value, str(error))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.sampled_from(["true", "false", "yes", "no", "1", "0", "on"]), min_size=1, max_size=1))
def test_booleans_given_as_strings_are_refused(tmp_path, values):
    path = tmp_path / "bool.yaml"
    path.write_text(yaml.safe_dump({"checkpoint": {"enabled": values[0]}}))  # quoted by safe_dump: a string
    with pytest.raises(UserError, match=r"checkpoint\.enabled"):
        load_spec(path)
