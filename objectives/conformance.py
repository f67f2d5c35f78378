"""Conformance kit: does an objective keep the promises the training loop relies on?

Any objective (built-in, entry point or dotted path) can be checked with a tiny real
tokenizer, a tiny corpus and a tiny model, in a few seconds on a CPU::

    from objectives.conformance import assert_conforms
    assert_conforms(MyObjective)                   # in a pytest test
    problems = check_objective(MyObjective, options={"chat": True})   # [] when it conforms

or from the repository root: ``python -m objectives.conformance my_pkg.module:MyObjective``.

Why these checks: a broken objective rarely crashes. It trains, the loss goes down, and the
numbers are wrong: the answer sits in the prompt, the loss lands on mask tokens, masks repeat
every epoch. Each check below names one such silent failure:

(a) samples are well formed: equal-length ``input_ids``/``labels`` of in-vocabulary ints, a
    finite positive weight; ``encode`` numbers its examples 0..n-1 (the stream indexes by id);
(b) every sample supervises at least one token (at t=1 for masking objectives, where a
    sample at smaller t may legitimately have no masked token);
(c) no leak: at t=1, what the model sees before its first target (for a bidirectional model:
    the whole input) must not depend on the document. Checked by swapping every document token
    for another one and comparing; for a causal objective without masking this is the prompt
    before the text (BOS, the chat turn, the math question), which holds trivially;
(d) samples are reproducible from the generator: same (seed, epoch, example), same sample;
    masking objectives must also mask differently for another seed or another epoch;
(e) only intended tokens carry loss: no label is the mask token; a causal objective's label
    is the input token at its position (the loss shifts); a bidirectional objective labels
    only positions whose input is the mask token, with the original token there;
(f) the loss is a finite scalar and decreases over a few optimizer steps of a tiny model on
    one collated batch (with the bidirectional attention mask when the objective asks for it);
(g) weights reach the loss: an objective whose samples carry weights other than 1 must have a
    ``loss`` that uses them (a ``loss`` override that ignores ``weights`` trains unweighted).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from numbers import Integral
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ValidationError

from objectives.base import IGNORE, Context, Example, Objective, Sample
from objectives.random_ar import ordinary_token_ids
from platform.chat import ChatFormat
from platform.data import mask_ratio
from platform.data.corpus import Corpus, MathProblem
from platform.data.stream import MicroBatchBuilder, collate
from platform.data.worlds.name_description import build_world, vocabulary_texts
from platform.models import build_tiny_model, model_inputs, set_bidirectional
from platform.spec import MaskRatioSpec, TinyModelConfig
from platform.tokenization import build_word_tokenizer

SEED = 1234
TRAIN_STEPS = 20
TRAIN_BATCH = 8
TINY_MODEL = TinyModelConfig(
    hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, max_position_embeddings=256
)
MATH_PROBLEMS = (
    MathProblem(
        "Tom has 3 apples and buys 4 more . How many apples does Tom have ?", "Tom has 3 + 4 = 7 apples . #### 7"
    ),
    MathProblem("A box holds 6 pens . How many pens are in 2 boxes ?", "2 boxes hold 2 * 6 = 12 pens . #### 12"),
    MathProblem(
        "Ana reads 5 pages a day for 3 days . How many pages does she read ?", "She reads 5 * 3 = 15 pages . #### 15"
    ),
    MathProblem("Sam had 10 coins and spent 4 . How many coins are left ?", "Sam has 10 - 4 = 6 coins left . #### 6"),
)

Check = Callable[[Objective, list[Example]], Iterator[str]]


@cache
def tiny_context() -> Context:
    """The embedded word-level tokenizer over the world's words and the math problems."""
    texts = [*vocabulary_texts(), *(text for p in MATH_PROBLEMS for text in (p.question, p.answer))]
    tokenizer = build_word_tokenizer(texts)
    return Context(tokenizer, ChatFormat.from_tokenizer(tokenizer), tokenizer.mask_token_id)


def tiny_corpus(objective: Objective) -> Corpus:
    """A few fictitious people (with the objective's paraphrase set), or a few math problems."""
    if objective.task == "math":
        return Corpus("conformance_math", train_problems=list(MATH_PROBLEMS), test_problems=list(MATH_PROBLEMS[:1]))
    world = build_world(seed=0, num_known=2, num_new=4, qa_fraction=0.5)
    return world.injection_corpus(objective.paraphrases or "none")


def check_objective(
    objective_cls: type[Objective],
    context: Context | None = None,
    options: BaseModel | Mapping[str, Any] | None = None,
) -> list[str]:
    """Every problem found (one per failed check, first offending sample); empty = conforms."""
    problems = list(_class_problems(objective_cls))
    if problems:
        return problems
    try:
        if isinstance(options, Mapping):
            options = objective_cls.Options(**options)
        objective = objective_cls(context or tiny_context(), options)
        examples = objective.encode(tiny_corpus(objective))
    except Exception as error:  # a plugin's bug is a reported problem, not a crash of the kit
        return [f"construction or encode raised {type(error).__name__}: {error}"]
    checks: tuple[Check, ...] = (
        check_examples,
        check_samples,
        check_labelled,
        check_no_leak,
        check_reproducible,
        check_loss_targets,
        check_training,
        check_weights_used,
    )
    for check in checks:
        try:
            problem = next(check(objective, examples), None)
        except Exception as error:
            problem = f"raised {type(error).__name__}: {error}"
        if problem:
            problems.append(f"{check.__name__}: {problem}")
        if problem and check is check_examples:
            break  # the training check looks examples up by id: the rest would mislead
    return problems


def assert_conforms(
    objective_cls: type[Objective],
    context: Context | None = None,
    options: BaseModel | Mapping[str, Any] | None = None,
) -> None:
    """``check_objective`` for pytest: an AssertionError listing every problem."""
    problems = check_objective(objective_cls, context, options)
    if problems:
        raise AssertionError(f"{objective_cls.__name__} does not conform:\n  - " + "\n  - ".join(problems))


# -- the checks ------------------------------------------------------------------------------
def _class_problems(objective_cls: type) -> Iterator[str]:
    if not (isinstance(objective_cls, type) and issubclass(objective_cls, Objective)):
        yield f"{objective_cls!r} is not an Objective subclass"
        return
    if not objective_cls.name:
        yield "the class sets no `name`"
    if objective_cls.make_sample is Objective.make_sample:
        yield "make_sample is not implemented"
    if objective_cls.task not in ("knowledge", "math"):
        yield f"task {objective_cls.task!r} is neither 'knowledge' nor 'math'"
    if not (isinstance(objective_cls.Options, type) and issubclass(objective_cls.Options, BaseModel)):
        yield "Options is not a pydantic model"
        return
    try:
        objective_cls.Options(unknown_conformance_key=1)
        yield "Options accepts unknown keys: a typo in the spec would be ignored (use extra='forbid')"
    except ValidationError:
        pass


def check_examples(objective: Objective, examples: list[Example]) -> Iterator[str]:
    if objective.paraphrases not in (None, "none", "same", "reordered", "both"):
        yield f"paraphrases is {objective.paraphrases!r}"
    if not examples:
        yield "encode returned no examples for a non-empty corpus"
    for index, example in enumerate(examples):
        if example.example_id != index:
            yield f"example at index {index} has example_id {example.example_id} (the stream looks examples up by id)"
        if not example.ids or not _all_ints(example.ids) or not _all_ints(example.context):
            yield f"example {index}: ids and context must be tuples of ints, ids non-empty"


def check_samples(objective: Objective, examples: list[Example]) -> Iterator[str]:
    """(a) shapes, types, vocabulary range and weight."""
    vocab = len(objective.ctx.tokenizer)
    for example, t in _cases(objective, examples, (0.0, 0.5, 1.0)):
        where = f"example {example.example_id} at t={t}"
        s = sample(objective, example, t)
        if not isinstance(s, Sample):
            yield f"{where}: make_sample returned {type(s).__name__}, not Sample"
            return
        if len(s.input_ids) != len(s.labels) or not s.input_ids:
            yield f"{where}: {len(s.input_ids)} input ids but {len(s.labels)} labels"
        elif not (_all_ints(s.input_ids) and _all_ints(s.labels)):
            yield f"{where}: input_ids and labels must be ints"
        elif not all(0 <= i < vocab for i in s.input_ids) or not all(
            label == IGNORE or 0 <= label < vocab for label in s.labels
        ):
            yield f"{where}: an id is outside the vocabulary (size {vocab}) or a label is neither IGNORE nor a token id"
        if not (isinstance(s.weight, float | int) and math.isfinite(s.weight) and s.weight > 0):
            yield f"{where}: weight {s.weight!r} is not a finite positive number"


def check_labelled(objective: Objective, examples: list[Example]) -> Iterator[str]:
    """(b) something to learn in every sample."""
    t = 1.0 if objective.uses_mask_ratio else 0.5
    for example in examples:
        if all(label == IGNORE for label in sample(objective, example, t).labels):
            yield f"example {example.example_id} at t={t}: no labelled token"


def check_no_leak(objective: Objective, examples: list[Example]) -> Iterator[str]:
    """(c) at t=1 the visible input before the first target carries nothing of the document."""
    shift = _substitution(objective.ctx)
    for example in examples:
        other = Example(example.example_id, tuple(shift.get(i, i) for i in example.ids), example.context)
        seen, seen_other = (_visible(objective, sample(objective, e, 1.0)) for e in (example, other))
        if seen != seen_other:
            yield (
                f"example {example.example_id} at t=1: the input seen before the first target depends on the "
                "document (the answer leaks into the prompt)"
            )


def check_reproducible(objective: Objective, examples: list[Example]) -> Iterator[str]:
    """(d) the generator alone decides the sample; masks change with seed and epoch."""
    for example in examples:
        if not _same(sample(objective, example, 0.5), sample(objective, example, 0.5)):
            yield f"example {example.example_id}: the same generator gave two different samples"
    if not objective.uses_mask_ratio:
        return
    for what, seed, epoch in (("seed", SEED + 1, 0), ("epoch", SEED, 1)):
        if all(_same(sample(objective, e, 0.5), sample(objective, e, 0.5, seed, epoch)) for e in examples):
            yield f"at t=0.5 another {what} gave the same samples: masks must be drawn from the generator"


def check_loss_targets(objective: Objective, examples: list[Example]) -> Iterator[str]:
    """(e) labels only where the objective means to train, with the right target."""
    mask_id = objective.ctx.mask_token_id
    for example, t in _cases(objective, examples, (0.5, 1.0)):
        s = sample(objective, example, t)
        for i, (label, original) in enumerate(zip(s.labels, _originals(objective, example, s), strict=True)):
            if label == IGNORE:
                continue
            where = f"example {example.example_id} at t={t}, position {i}"
            if label == mask_id:
                yield f"{where}: the model is trained to predict the mask token"
            elif objective.bidirectional and s.input_ids[i] != mask_id:
                yield f"{where}: a bidirectional objective labels an unmasked position (the model can copy it)"
            elif original is not None and label != original:
                kind = (
                    "the original token there" if objective.bidirectional else "the input token there (the loss shifts)"
                )
                yield f"{where}: label {label} is not {kind}"


def check_training(objective: Objective, examples: list[Example]) -> Iterator[str]:
    """(f) a finite scalar loss that a tiny model can reduce on one fixed batch."""
    with _one_thread():
        yield from _train_tiny(objective, examples)


def _train_tiny(objective: Objective, examples: list[Example]) -> Iterator[str]:
    tokenizer = objective.ctx.tokenizer
    model = build_tiny_model(TINY_MODEL, tokenizer, SEED)
    if objective.bidirectional:
        set_bidirectional(model)
    builder = MicroBatchBuilder(objective, examples, MaskRatioSpec(kind="fixed", value=0.5), SEED, epochs=1)
    samples, _ = builder.samples(0, 0, np.arange(min(TRAIN_BATCH, len(examples))))
    batch = {key: torch.from_numpy(value) for key, value in collate(samples, tokenizer.pad_token_id).items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    losses = []
    for step in range(TRAIN_STEPS):
        logits = model(**model_inputs(model, batch["input_ids"], batch["attention_mask"])).logits
        loss = objective.loss(logits, batch["labels"], batch["weights"])
        if loss.ndim != 0 or not torch.isfinite(loss):
            yield f"step {step}: the loss is {loss}, not a finite scalar"
            return
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    if not losses[-1] < losses[0]:
        yield f"the loss did not decrease in {TRAIN_STEPS} steps on one batch ({losses[0]:.4f} -> {losses[-1]:.4f})"


def check_weights_used(objective: Objective, examples: list[Example]) -> Iterator[str]:
    """(g) samples weighted unequally: swapping two sequences' weights changes the loss."""
    ratios = (0.3, 1.0) if objective.uses_mask_ratio else (0.5,)
    samples = [sample(objective, e, t) for e, t in _cases(objective, examples, ratios)]
    if all(s.weight == 1.0 for s in samples) or len(samples) < 2:
        return
    tokenizer = objective.ctx.tokenizer
    with _one_thread():
        model = build_tiny_model(TINY_MODEL, tokenizer, SEED)
        if objective.bidirectional:
            set_bidirectional(model)
        batch = {key: torch.from_numpy(value) for key, value in collate(samples[:2], tokenizer.pad_token_id).items()}
        with torch.no_grad():
            logits = model(**model_inputs(model, batch["input_ids"], batch["attention_mask"])).logits
            weights = torch.tensor([1.0, 3.0])
            losses = {float(objective.loss(logits, batch["labels"], w)) for w in (weights, weights.flip(0))}
    if len(losses) == 1:
        yield "its samples carry weights other than 1 but its loss ignores them: training would be unweighted"


# -- helpers --------------------------------------------------------------------------------
def sample(objective: Objective, example: Example, t: float, seed: int = SEED, epoch: int = 0) -> Sample:
    """The sample the training stream would build for (seed, epoch, example) at ratio t."""
    return objective.make_sample(example, mask_ratio.sample_generator(seed, epoch, example.example_id), t)


def _cases(objective: Objective, examples: list[Example], ratios: tuple[float, ...]) -> Iterator[tuple[Example, float]]:
    """Every example at each ratio, or at one ratio when the objective ignores t."""
    for t in ratios if objective.uses_mask_ratio else (0.5,):
        for example in examples:
            yield example, t


def _originals(objective: Objective, example: Example, s: Sample) -> list[int | None]:
    """The token each label should be: the input itself (causal), or the uncorrupted input at
    t=0 (bidirectional; None where even t=0 masks, or when the layout changes with t)."""
    if not objective.bidirectional:
        return list(s.input_ids)
    clean = sample(objective, example, 0.0).input_ids
    if len(clean) != len(s.input_ids):
        return [None] * len(s.input_ids)
    return [None if token == objective.ctx.mask_token_id else token for token in clean]


def _visible(objective: Objective, s: Sample) -> list[int]:
    """What the model sees before predicting its first target: everything if bidirectional."""
    if objective.bidirectional:
        return list(s.input_ids)
    first = next((i for i, label in enumerate(s.labels) if label != IGNORE), len(s.labels))
    return list(s.input_ids[:first])


def _substitution(context: Context) -> dict[int, int]:
    """Each ordinary token -> the next ordinary token: another document of the same length."""
    ordinary = ordinary_token_ids(context).tolist()
    return dict(zip(ordinary, ordinary[1:] + ordinary[:1], strict=True))


@contextmanager
def _one_thread() -> Iterator[None]:
    """Tensors this small train fastest on one thread, and far faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _same(a: Sample, b: Sample) -> bool:
    return list(a.input_ids) == list(b.input_ids) and list(a.labels) == list(b.labels) and a.weight == b.weight


def _all_ints(values: Any) -> bool:
    return all(isinstance(v, Integral) and not isinstance(v, bool) for v in values)


def real_model_context(mask_token: str = "<empty_output>") -> Context:
    """SmolLM2-135M-Instruct's BPE tokenizer and chat template (converted once, cached), with a
    reserved token as the mask: the kit's checks on a real instruct tokenizer."""
    from platform.pretrained import model_directory
    from platform.spec import ModelSpec
    from platform.tokenization import load_tokenizer, mask_token_id

    spec = ModelSpec(source="smollm2", mask_token=mask_token)
    tokenizer = load_tokenizer(model_directory(spec), spec)
    return Context(tokenizer, ChatFormat.from_tokenizer(tokenizer), mask_token_id(tokenizer, spec))


def main(argv: list[str]) -> int:
    """``python -m objectives.conformance [--model smollm2] NAME_OR_DOTTED_PATH...``: print problems, exit 1 if any."""
    import argparse

    from objectives.registry import load_reference, resolve

    parser = argparse.ArgumentParser(
        prog="python -m objectives.conformance", description="Check objectives against the training loop's promises."
    )
    parser.add_argument("names", nargs="+", help="objective names or dotted paths (my_pkg.module:MyObjective)")
    parser.add_argument(
        "--model",
        choices=["tiny", "smollm2"],
        default="tiny",
        help="whose tokenizer: the tiny word-level one or SmolLM2's",
    )
    args = parser.parse_args(argv)
    context = real_model_context() if args.model == "smollm2" else None
    failed = False
    for name in args.names:
        problems = check_objective(load_reference(resolve(name)), context)
        failed = failed or bool(problems)
        print(f"{name}: " + ("conforms" if not problems else "\n  - " + "\n  - ".join(problems)))
    return int(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
