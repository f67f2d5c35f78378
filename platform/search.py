"""The search section of a spec -> a Ray Tune searcher: grid axes crossed with Optuna.

Why one Optuna study per grid cell: the paper tunes the learning rate *per objective*, and
the best rate for ``ar`` says little about ``masked_ar``. So every cell of the grid
(objective x seed x ...) gets its own TPE (or random) sampler over the continuous
parameters, and cells take turns, so concurrency is shared fairly. Parameters that do not
apply to a cell (mask-ratio options for an objective that does not mask) are left out of
its space: conditional parameters without special syntax.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Callable
from typing import Any

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from platform.spec import SearchParam, SearchSpec

MODE = "max"
optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created" once per grid cell


def grid_cells(search: SearchSpec) -> list[dict[str, Any]]:
    """Every explicit cell crossed with every combination of the grid axes."""
    keys = list(search.grid)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*search.grid.values())]
    return [{**cell, **combo} for cell in (search.cells or [{}]) for combo in combos]


def optuna_distribution(param: SearchParam) -> optuna.distributions.BaseDistribution:
    if param.type == "loguniform":
        return optuna.distributions.FloatDistribution(param.low, param.high, log=True)
    if param.type == "uniform":
        return optuna.distributions.FloatDistribution(param.low, param.high)
    if param.type == "int":
        return optuna.distributions.IntDistribution(int(param.low), int(param.high))
    return optuna.distributions.CategoricalDistribution(param.values)


class GridCrossSearcher(Searcher):
    """Round-robin over grid cells; inside a cell, an OptunaSearch proposes the parameters."""

    def __init__(
        self,
        search: SearchSpec,
        applies: Callable[[dict[str, Any], str], bool],
        seed: int = 0,
    ) -> None:
        super().__init__(metric=search.metric, mode=MODE)
        self.cells = grid_cells(search)
        self.samples_per_cell = search.samples_per_cell
        self.searchers: list[OptunaSearch | None] = []
        for index, cell in enumerate(self.cells):
            space = {name: optuna_distribution(p) for name, p in search.parameters.items() if applies(cell, name)}
            if not space:
                self.searchers.append(None)
                continue
            sampler = (
                optuna.samplers.TPESampler(seed=seed + index, n_startup_trials=min(3, self.samples_per_cell))
                if search.sampler == "tpe"
                else optuna.samplers.RandomSampler(seed=seed + index)
            )
            self.searchers.append(OptunaSearch(space=space, metric=search.metric, mode=MODE, sampler=sampler))
        self.per_cell = [self.samples_per_cell if s else 1 for s in self.searchers]
        self.issued = [0] * len(self.cells)
        self.cell_of: dict[str, int] = {}

    @property
    def total_trials(self) -> int:
        return sum(self.per_cell)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        open_cells = [i for i, n in enumerate(self.issued) if n < self.per_cell[i]]
        if not open_cells:
            return Searcher.FINISHED
        index = min(open_cells, key=lambda i: (self.issued[i], i))
        params: dict[str, Any] = {}
        searcher = self.searchers[index]
        if searcher is not None:
            suggested = searcher.suggest(trial_id)
            if suggested is None:
                return None
            params = dict(suggested)
        self.issued[index] += 1
        self.cell_of[trial_id] = index
        return {**self.cells[index], **params}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        index = self.cell_of.get(trial_id)
        searcher = self.searchers[index] if index is not None else None
        if searcher is not None:
            searcher.on_trial_complete(trial_id, result, error)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))  # noqa: S301 - our own checkpoint file
