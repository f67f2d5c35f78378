"""Everything a sweep will need, checked before any work, in the order a user fixes things.

Why one place for it: a check that runs late (inside a trial, after Ray started and the base
model was built) costs the user minutes to learn about a typo, and a ``--dry-run`` that skips
checks passes specs that fail at once. ``make_plan`` runs every check the run runs, for the
dry run too, in this order:

1. the spec: fields, value ranges, every grid cell resolved, the objectives and their options,
   the base stages and the one world each reads;
2. files: every cell's data as its objective loads it (paraphrase files included), the model
   path, the DeepSpeed config (checked while loading the spec);
3. the model: its config and tokenizer load (a GGUF file is converted once, cached), the mask
   token is in the vocabulary and nowhere in the data, a bidirectional objective has a
   bidirectional checkpoint, every cell's corpus encodes;
4. resources: the storage folder is writable and big enough, the Ray cluster can place a trial
   (a local cluster is counted without starting it; ``--address`` is connected to);
5. the MLflow store answers.

What it found is the ``SweepPlan``: the dry run prints it, the run starts from it.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from platform.data.corpus import Corpus
from platform.errors import UserError
from platform.paths import state_dir
from platform.spec import ExperimentSpec, apply_overrides, format_validation_error, load_spec
from platform.tracking import Tracking, check_store_answers

if TYPE_CHECKING:  # objectives.base imports torch: the plan loads it only when a check needs it
    from objectives.base import BaseStage


@dataclass(frozen=True)
class StagePlan:
    """One base stage of the sweep and the spec it is built from."""

    stage: BaseStage
    spec: ExperimentSpec
    """A spec of the trials that fine-tune from it: its ``data`` names the world whose known
    part the stage reads (the arithmetic world's known problems for the math stage, the
    NameDescription world's known people for the causal one)."""


@dataclass
class SweepPlan:
    """What the checks found: the spec and its trials, data, model, resources and store."""

    spec: ExperimentSpec
    cells: list[dict[str, Any]]
    refs: dict[str, str]
    cell_specs: list[ExperimentSpec]
    searcher: Any
    stages: dict[str, StagePlan] = field(default_factory=dict)
    """The base stages the sweep's objectives fine-tune, by name (``base_stages``)."""
    corpora: dict[str, Corpus] = field(default_factory=dict)
    """The corpus per distinct data setting of the sweep's cells, by a readable label."""
    pretrained: str | None = None
    """The pretrained checkpoint directory (None for the embedded model)."""
    parameters: float | None = None
    storage: Path | None = None
    cluster: dict[str, float] = field(default_factory=dict)
    cluster_kind: str = ""
    tracking: Tracking | None = None
    """The spec's MLflow store (None: not checked, ``--spec-only``)."""


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs; VALUE is YAML (``[1, 2]``, ``{a: b}``, ``3.0e-4``)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"expects KEY=VALUE, got {item!r}", where="--set")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise UserError(f"{item!r}: the value is not valid YAML ({problem})", where="--set") from None
    return overrides


def applies(spec: ExperimentSpec, refs: dict[str, str]):
    """Whether a searched parameter applies to a grid cell (mask-ratio keys need a masking objective)."""
    from objectives.registry import load_reference

    def check(cell: dict[str, Any], name: str) -> bool:
        if not name.startswith("objective.mask_ratio"):
            return True
        objective = cell.get("objective.name", spec.objective.name)
        return load_reference(refs[objective]).uses_mask_ratio

    return check


def validate_trials(
    spec: ExperimentSpec, source: str
) -> tuple[list[dict[str, Any]], dict[str, str], list[ExperimentSpec]]:
    """Resolve every grid cell (at both ends of each searched range) and every objective.

    Returns the cells, the objective references by name, and every resolved cell spec.
    """
    from objectives.registry import resolve
    from platform.search import grid_cells

    names = {spec.objective.name}
    cells = grid_cells(spec.search)
    resolved_specs = []
    for cell in cells:
        names.add(cell.get("objective.name", spec.objective.name))
        for end in ("low", "high"):
            probe = dict(cell)
            for key, param in spec.search.parameters.items():
                probe[key] = (
                    param.values[0]
                    if param.type == "choice"
                    else (int(getattr(param, end)) if param.type == "int" else getattr(param, end))
                )
            resolved = apply_overrides(spec, probe, f"{source} (grid cell {cell or '{}'})")
            names.add(resolved.objective.name)
            resolved_specs.append(resolved)
            check_objective_options(resolved, resolve(resolved.objective.name), f"{source} (grid cell {cell or '{}'})")
    check_sweep_wide(spec, cells, source)
    refs = {name: resolve(name) for name in sorted(names)}
    return cells, refs, resolved_specs


def check_sweep_wide(spec: ExperimentSpec, cells: list[dict[str, Any]], source: str) -> None:
    """Refuse cells that vary what the sweep decides once for all its trials: the base stage
    (one base model per family, built before any trial)."""
    searched = [*(key for cell in cells for key in cell), *spec.search.parameters]
    fixed = sorted({key for key in searched if key.startswith("model.base_pretrain")})
    if fixed:
        raise UserError(
            f"{source}: search varies {', '.join(fixed)}, but the base stage is built once per sweep for "
            "every trial: set model.base_pretrain at the top of the spec (one sweep per base recipe)",
            where="search",
        )


def base_stages(cell_specs: list[ExperimentSpec], refs: dict[str, str], source: str) -> dict[str, StagePlan]:
    """The base stages (``Objective.base_stage``) the cells fine-tune, by name, each with the
    spec it is built from.

    Why one world a stage: a stage is built once per sweep, from the known part of its trials'
    world; cells that shared a stage across two worlds, or two sizes or seeds of one, would
    fine-tune from a base model built on another world, whose known entities may be their new
    ones. The cells' paraphrase setting is theirs alone (the stage reads
    ``model.base_pretrain.paraphrases``)."""
    from objectives.registry import load_reference

    stages: dict[str, StagePlan] = {}
    for cell in cell_specs:
        stage = load_reference(refs[cell.objective.name]).base_stage()
        planned = stages.setdefault(stage.name, StagePlan(stage, cell))
        if planned.stage != stage:
            raise UserError(
                f"{source}: objective {cell.objective.name!r} names base stage {stage.name!r} with other formats "
                "than another objective of the sweep: give the stage another name",
                where="objective.name",
            )
        if cell.model.source == "embedded" and _stage_world(cell) != _stage_world(planned.spec):
            raise UserError(
                f"{source}: the cells fine-tuning from base stage {stage.name!r} use different worlds "
                f"({_stage_world(planned.spec)} and {_stage_world(cell)}), but a stage is built once per sweep "
                "from one world's known part: vary data.name and data.world across stages only, or run one "
                "sweep per world",
                where="search",
            )
    return dict(sorted(stages.items()))


def _stage_world(spec: ExperimentSpec) -> dict[str, Any]:
    """What of a cell's spec a base stage is built from, besides ``model.base_pretrain``."""
    return {"data": spec.data.model_dump(mode="json", exclude={"paraphrases"}), "tiny": spec.model.tiny.model_dump()}


def check_objective_options(spec: ExperimentSpec, reference: str, source: str) -> None:
    """The objective's own options, validated by its pydantic model, before any trial starts."""
    from pydantic import ValidationError

    from objectives.registry import load_reference

    try:
        load_reference(reference).Options(**spec.objective.options())
    except ValidationError as error:
        raise UserError(
            format_validation_error(error, source).replace(f"{source}: ", f"{source}: objective.")
        ) from None


def prepare_pretrained(spec: ExperimentSpec) -> str | None:
    """The pretrained checkpoint (converted once if it is a GGUF file), its config and tokenizer
    checked; None for the embedded model."""
    if spec.model.source == "embedded":
        return None
    from platform.pretrained import model_directory
    from platform.tokenization import check_model

    path = model_directory(spec.model, log=lambda line: print(line, flush=True))
    check_model(path, spec.model)
    return path


def make_plan(args: argparse.Namespace, *, spec_only: bool = False) -> SweepPlan:
    """Run every check before work (the module docstring has the order); ``spec_only`` stops
    after the spec, for a spec whose data, model and GPUs exist only on its cluster."""
    from platform.search import GridCrossSearcher

    spec = load_spec(args.spec, parse_overrides(args.set))
    cells, refs, cell_specs = validate_trials(spec, args.spec)
    searcher = GridCrossSearcher(spec.search, applies(spec, refs), seed=spec.train.seed)
    plan = SweepPlan(spec, cells, refs, cell_specs, searcher, base_stages(cell_specs, refs, args.spec))
    if spec_only:
        return plan
    plan.corpora = check_files(cell_specs, refs)
    plan.pretrained = check_model(spec, cell_specs, refs)
    check_resources(plan, args)
    plan.tracking = Tracking.from_spec(spec)
    if args.dry_run:
        check_store_answers(plan.tracking.uri)
    return plan


def check_files(cell_specs: list[ExperimentSpec], refs: dict[str, str]) -> dict[str, Corpus]:
    """Every cell's data, loaded as its objective will load it (its paraphrase setting)."""
    from objectives.registry import load_reference
    from platform.data.sources import load_corpus

    corpora: dict[str, Corpus] = {}
    for spec in cell_specs:
        objective = load_reference(refs[spec.objective.name])
        # an objective's paraphrase set: its class's, or its options' (paraphrase_ar); the model
        # stage loads each cell again exactly as its trial will (``preflight.check_cells``)
        options = objective.Options(**spec.objective.options())
        paraphrases = getattr(options, "paraphrases", None) or objective.paraphrases
        label = f"{spec.data.source} {spec.data.name}, paraphrases {paraphrases or spec.data.paraphrases}"
        if label not in corpora:
            corpora[label] = load_corpus(spec.data, paraphrases)
    model = cell_specs[0].model
    if model.source == "huggingface" and not os.path.exists(model.path or ""):
        from platform.spec import HUB_ID

        if not HUB_ID.match(model.path or ""):  # a hub id is looked up by the model stage (cache, or download)
            raise UserError(
                "no such directory (relative paths are relative to the spec file's folder)",
                where=f"model.path ({model.path})",
            )
    return corpora


def check_model(spec: ExperimentSpec, cell_specs: list[ExperimentSpec], refs: dict[str, str]) -> str | None:
    """The model loads (config, tokenizer), and every cell encodes on its tokenizer."""
    from platform.preflight import check_cells

    pretrained = prepare_pretrained(spec)
    check_cells(cell_specs, refs, pretrained)
    return pretrained


def check_resources(plan: SweepPlan, args: argparse.Namespace) -> None:
    """Storage for the checkpoints, and a cluster that can place one trial."""
    from platform.capacity import check_cluster_fits, parameter_count
    from platform.storage import check_storage

    spec = plan.spec
    plan.parameters = parameter_count(spec, plan.pretrained)
    plan.storage = Path(args.storage).resolve() if args.storage else state_dir() / "results"
    check_storage(plan.storage, spec, plan.searcher.total_trials, plan.parameters)
    plan.cluster, plan.cluster_kind = cluster_resources(args.address)
    check_cluster_fits(spec, plan.cluster)


def cluster_resources(address: str | None) -> tuple[dict[str, float], str]:
    """The resources trials can use, and what they are: a local cluster is counted as Ray will
    count it (without starting it); an existing cluster is asked."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        from platform.capacity import local_resources

        return local_resources(), "local Ray cluster (started by the sweep)"
    import ray

    from platform.cluster import init_ray

    init_ray(address)
    return dict(ray.cluster_resources()), f"Ray cluster at {address}"


def dry_run_report(plan: SweepPlan, identifier: str) -> str:
    """What the run would do, and what the checks found."""
    from platform.capacity import memory_per_worker_gb
    from platform.strategy import describe

    spec, total = plan.spec, plan.searcher.total_trials
    lines = [f"sweep {identifier}: {total} trial(s), up to {spec.search.max_concurrent} at once"]
    lines.append(f"objectives: {', '.join(f'{k} -> {v}' for k, v in plan.refs.items())}")
    for cell in plan.cells:
        searched = ", ".join(f"{k}~{p.type}" for k, p in spec.search.parameters.items())
        lines.append(
            f"  cell {cell or '{}'}"
            + (f" x {spec.search.samples_per_cell} samples of ({searched})" if searched else "")
        )
    for label, corpus in plan.corpora.items():
        lines.append(f"data ({label}): {len(corpus.documents)} documents, {len(corpus.questions)} questions")
        for (group, task), count in sorted(_questions_by_group(corpus).items()):
            lines.append(f"  {group}/{task}: {count} questions")
        if corpus.train_problems or corpus.test_problems:
            lines.append(
                f"  math: {len(corpus.train_problems)} training problems, {len(corpus.test_problems)} test problems"
            )
    model = spec.model
    where = plan.pretrained or "built from spec.model.tiny, with a cached base stage per family"
    lines.append(f"model: {model.source} ({where})")
    res = spec.resources
    lines.append(
        f"per trial: {res.num_workers} worker(s) x {res.cpus_per_worker} CPU, {res.gpus_per_worker} GPU, strategy "
        f"{res.strategy}"
    )
    if plan.parameters:
        lines.append(
            f"model size: ~{_count(plan.parameters)} parameters; estimated "
            f"{memory_per_worker_gb(spec, plan.parameters):.1f} GB "
            "per worker for weights, gradients and optimizer states (activations not included)"
        )
    if plan.cluster:
        have = ", ".join(f"{plan.cluster.get(k, 0):g} {k}" for k in ("CPU", "GPU"))
        lines.append(f"resources: {plan.cluster_kind}: {have}; storage {plan.storage}")
    if plan.tracking:
        lines.append(f"MLflow: {plan.tracking.shown} answers (experiment {spec.tracking.experiment!r})")
    lines.append(
        f"strategy config (warm-up steps are {spec.train.warmup_ratio:.0%} of each trial's steps, known once its "
        "data is loaded):"
    )
    lines.append(describe(spec, spec.train.batch_size // res.num_workers, total_steps=0))
    return "\n".join(lines)


def _count(parameters: float) -> str:
    return f"{parameters / 1e9:.3g}B" if parameters >= 1e9 else f"{parameters / 1e6:.3g}M"


def _questions_by_group(corpus: Corpus) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for question in corpus.questions:
        counts[question.group, question.task] = counts.get((question.group, question.task), 0) + 1
    return counts
