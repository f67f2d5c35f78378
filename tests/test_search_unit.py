"""GridCrossSearcher without Ray Tune running: cell order, round-robin, finishing, and
save/restore for resumed sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray.tune.search import Searcher

from objectives.registry import resolve
from platform.plan import applies
from platform.search import GridCrossSearcher, grid_cells
from platform.spec import ExperimentSpec, load_spec
from tests.conftest import REPO

DEFAULTS = REPO / "search_spaces" / "defaults.yaml"


def spec_file(tmp_path: Path, search: str) -> ExperimentSpec:
    """A spec extending the repository's defaults with the given ``search:`` block (YAML, indented)."""
    path = tmp_path / "spec.yaml"
    path.write_text(f"base: {DEFAULTS}\nsearch:\n{search}")
    return load_spec(path)


def searcher_for(spec: ExperimentSpec, seed: int | None = None) -> GridCrossSearcher:
    """Built as ``plan.make_plan`` builds it: the plan's ``applies`` over the resolved objectives."""
    names = {spec.objective.name} | {
        cell.get("objective.name", spec.objective.name) for cell in grid_cells(spec.search)
    }
    refs = {name: resolve(name) for name in names}
    return GridCrossSearcher(spec.search, applies(spec, refs), seed=spec.train.seed if seed is None else seed)


def suggest_all(searcher: GridCrossSearcher, prefix: str = "t", complete: bool = True) -> list[dict]:
    """Suggest until FINISHED (completing each trial with a score), as Tune would with enough concurrency."""
    configs = []
    for i in range(1000):
        config = searcher.suggest(f"{prefix}{i}")
        if config == Searcher.FINISHED:
            return configs
        assert config is not None
        configs.append(config)
        if complete:
            searcher.on_trial_complete(f"{prefix}{i}", {searcher.metric: 0.01 * i})
    raise AssertionError("the searcher never finished")


def test_grid_cells_cross_explicit_cells_outermost_with_the_grid_last_axis_fastest():
    spec = load_spec(REPO / "search_spaces" / "ablation.yaml")
    cells = grid_cells(spec.search)
    assert len(cells) == 2 * 3 * 2
    assert cells[:3] == [
        {"data.paraphrases": "none", "objective.name": "ar", "train.seed": 0},
        {"data.paraphrases": "none", "objective.name": "ar", "train.seed": 1},
        {"data.paraphrases": "none", "objective.name": "masked_ar", "train.seed": 0},
    ]
    # the second explicit cell keeps all of its keys, and comes after every cell of the first
    assert cells[6] == {
        "data.paraphrases": "same",
        "train.epochs": 60,
        "eval.every": 5,
        "objective.name": "ar",
        "train.seed": 0,
    }
    assert [c["data.paraphrases"] for c in cells] == ["none"] * 6 + ["same"] * 6


def test_grid_cells_without_grid_or_cells_is_one_empty_cell():
    spec = load_spec(DEFAULTS)
    assert grid_cells(spec.search) == [{}]


def test_grid_cells_a_grid_axis_overrides_the_same_key_of_an_explicit_cell(tmp_path):
    spec = spec_file(
        tmp_path, "  cells: [{objective.name: sft, train.lr: 1.0e-3}]\n  grid: {objective.name: [ar, masked_ar]}\n"
    )
    assert grid_cells(spec.search) == [
        {"objective.name": "ar", "train.lr": 1.0e-3},
        {"objective.name": "masked_ar", "train.lr": 1.0e-3},
    ]


def test_cells_without_searched_parameters_are_each_suggested_once_in_grid_order():
    spec = load_spec(REPO / "search_spaces" / "seeds.yaml")
    searcher = searcher_for(spec)
    assert searcher.total_trials == 8
    configs = suggest_all(searcher)
    assert configs == grid_cells(spec.search)
    assert [(c["objective.name"], c["train.seed"]) for c in configs] == [
        *(("ar", s) for s in range(4)),
        *(("masked_ar", s) for s in range(4)),
    ]


def test_searched_cells_take_turns_round_robin_and_each_gets_samples_per_cell():
    spec = load_spec(REPO / "search_spaces" / "lr.yaml")
    searcher = searcher_for(spec)
    assert searcher.total_trials == 2 * 3
    configs = suggest_all(searcher)
    assert [c["objective.name"] for c in configs] == ["ar", "masked_ar"] * 3
    lrs = [c["train.lr"] for c in configs]
    assert all(2.0e-4 <= lr <= 2.0e-3 for lr in lrs)
    assert len(set(lrs)) == len(lrs)  # one Optuna study per cell: no configuration twice
    assert searcher.issued == [3, 3]


def test_round_robin_picks_the_least_issued_cell_even_while_trials_are_still_running():
    spec = load_spec(REPO / "search_spaces" / "lr.yaml")
    searcher = searcher_for(spec)
    configs = suggest_all(searcher, complete=False)  # nothing completes: Tune at full concurrency
    assert [c["objective.name"] for c in configs] == ["ar", "masked_ar"] * 3
    assert searcher.cell_of == {f"t{i}": i % 2 for i in range(6)}


def test_finished_searcher_keeps_returning_finished_and_issues_nothing_more():
    spec = load_spec(REPO / "search_spaces" / "lr.yaml")
    searcher = searcher_for(spec)
    suggest_all(searcher)
    for trial_id in ("late1", "late2"):
        assert searcher.suggest(trial_id) == Searcher.FINISHED == "FINISHED"
        assert trial_id not in searcher.cell_of
    assert searcher.issued == [3, 3] and sum(searcher.issued) == searcher.total_trials


def test_mask_ratio_parameters_apply_only_to_cells_whose_objective_masks(tmp_path):
    spec = spec_file(
        tmp_path,
        "  grid: {objective.name: [ar, masked_ar]}\n"
        "  parameters:\n"
        "    objective.mask_ratio.value: {type: uniform, low: 0.1, high: 0.9}\n"
        "  samples_per_cell: 2\n",
    )
    searcher = searcher_for(spec)
    assert searcher.searchers[0] is None  # ar: nothing to search, so one trial
    assert searcher.per_cell == [1, 2] and searcher.total_trials == 3
    configs = suggest_all(searcher)
    assert configs[0] == {"objective.name": "ar"}
    assert [c["objective.name"] for c in configs] == ["ar", "masked_ar", "masked_ar"]
    assert all(0.1 <= c["objective.mask_ratio.value"] <= 0.9 for c in configs[1:])


def test_a_cell_keeps_the_parameters_that_apply_and_drops_only_the_mask_ratio_ones(tmp_path):
    spec = spec_file(
        tmp_path,
        "  grid: {objective.name: [ar, masked_ar]}\n"
        "  parameters:\n"
        "    train.lr: {type: loguniform, low: 1.0e-4, high: 1.0e-3}\n"
        "    objective.mask_ratio.kind: {type: choice, values: [uniform, fixed]}\n"
        "  samples_per_cell: 2\n",
    )
    searcher = searcher_for(spec)
    assert searcher.total_trials == 4
    configs = suggest_all(searcher)
    assert [set(c) for c in configs] == [
        {"objective.name", "train.lr"},
        {"objective.name", "train.lr", "objective.mask_ratio.kind"},
    ] * 2
    assert all(
        c["objective.mask_ratio.kind"] in ("uniform", "fixed") for c in configs if c["objective.name"] == "masked_ar"
    )


def test_the_same_seed_gives_the_same_suggestions_and_another_seed_others():
    spec = load_spec(REPO / "search_spaces" / "lr.yaml")
    first, again, other = (
        suggest_all(searcher_for(spec)),
        suggest_all(searcher_for(spec)),
        suggest_all(searcher_for(spec, seed=7)),
    )
    assert first == again
    assert [c["train.lr"] for c in first] != [c["train.lr"] for c in other]


@pytest.mark.parametrize("stop_after", [0, 1, 3, 5])
def test_a_restored_searcher_continues_where_the_saved_one_stopped(tmp_path, stop_after):
    """A resumed sweep: a fresh searcher (built from the spec, as on rerun) restored from the
    checkpoint suggests exactly what the uninterrupted one would have, and nothing already issued."""
    spec = load_spec(REPO / "search_spaces" / "lr.yaml")
    uninterrupted = suggest_all(searcher_for(spec))

    saved = searcher_for(spec)
    before = []
    for i in range(stop_after):
        before.append(saved.suggest(f"t{i}"))
        saved.on_trial_complete(f"t{i}", {saved.metric: 0.01 * i})
    saved.save(str(tmp_path / "searcher.pkl"))

    resumed = searcher_for(spec)
    resumed.restore(str(tmp_path / "searcher.pkl"))
    assert resumed.issued == saved.issued and resumed.cell_of == saved.cell_of
    after = []
    for i in range(stop_after, 100):
        config = resumed.suggest(f"t{i}")
        if config == Searcher.FINISHED:
            break
        after.append(config)
        resumed.on_trial_complete(f"t{i}", {resumed.metric: 0.01 * i})
    assert before + after == uninterrupted
    assert len(after) == resumed.total_trials - stop_after
    assert not {c["train.lr"] for c in before} & {c["train.lr"] for c in after}


def test_save_to_dir_and_restore_from_dir_round_trip_as_tune_calls_them(tmp_path):
    spec = load_spec(REPO / "search_spaces" / "seeds.yaml")
    saved = searcher_for(spec)
    first = [saved.suggest(f"t{i}") for i in range(3)]
    saved.save_to_dir(str(tmp_path), session_str="sweep")
    resumed = searcher_for(spec)
    resumed.restore_from_dir(str(tmp_path))
    rest = suggest_all(resumed, prefix="r")
    assert first + rest == grid_cells(spec.search)


def test_a_trial_in_flight_at_save_still_reports_to_its_cells_study_after_restore(tmp_path):
    spec = load_spec(REPO / "search_spaces" / "lr.yaml")
    saved = searcher_for(spec)
    running = saved.suggest("running")  # suggested, not yet complete when the sweep stopped
    saved.save(str(tmp_path / "searcher.pkl"))
    resumed = searcher_for(spec)
    resumed.restore(str(tmp_path / "searcher.pkl"))
    resumed.on_trial_complete("running", {resumed.metric: 0.75})
    trials = resumed.searchers[0]._ot_study.trials
    assert [(t.value, t.params) for t in trials if t.state.name == "COMPLETE"] == [
        (0.75, {"train.lr": running["train.lr"]})
    ]
    assert resumed.searchers[1]._ot_study.trials == []  # the other cell's study is untouched


def test_completing_an_unknown_trial_or_one_of_a_cell_without_study_is_ignored():
    spec = load_spec(REPO / "search_spaces" / "seeds.yaml")
    searcher = searcher_for(spec)
    searcher.suggest("t0")
    searcher.on_trial_complete("t0", {searcher.metric: 1.0})
    searcher.on_trial_complete("never-suggested", {searcher.metric: 1.0})
    assert searcher.issued[0] == 1 and sum(searcher.issued) == 1
