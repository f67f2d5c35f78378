"""The math task: the arithmetic world, exact-match scoring, and ``sft`` / ``masked_sft`` samples.

The tokenizer is the platform's word tokenizer over both worlds' vocabularies with the
digit-splitting pre-tokenizer and digit-joining decoder proposed for
``platform.tokenization.build_word_tokenizer`` (applied here until that change lands), so every
number is representable and decodes back to itself.
"""

from __future__ import annotations

import operator
import re
from functools import cache

import numpy as np
import pytest
from tokenizers import Regex, decoders, pre_tokenizers

from objectives.base import IGNORE, Context, Example
from objectives.masked_sft import MaskedSFT
from objectives.registry import builtin_objectives, load_reference, resolve
from objectives.sft import SFT
from platform.chat import ChatFormat, encode_text, prompt_ids
from platform.data.corpus import Corpus
from platform.data.worlds import arithmetic, name_description
from platform.data.worlds.arithmetic import build_world
from platform.errors import UserError
from platform.scoring import final_number, math_exact_match
from platform.spec import WorldConfig
from platform.tokenization import build_word_tokenizer

SMALL = WorldConfig(seed=3, num_known=20, num_new=10)


@cache
def math_context() -> Context:
    tokenizer = build_word_tokenizer(name_description.vocabulary_texts() + arithmetic.vocabulary_texts())
    raw = tokenizer.backend_tokenizer
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    raw.decoder = decoders.Sequence(
        [decoders.WordPiece(prefix=" ", cleanup=False), decoders.Fuse(), decoders.Replace(Regex(r"(?<=\d) (?=\d)"), "")]
    )
    return Context(tokenizer, ChatFormat.from_tokenizer(tokenizer), tokenizer.mask_token_id)


def tokens(ids) -> list[str]:
    return math_context().tokenizer.convert_ids_to_tokens(list(ids))


def words(text: str) -> list[str]:
    """What the word tokenizer makes of a text: words, punctuation runs, single digits."""
    return re.findall(r"\d|[^\W\d]+|[^\w\s]+", text)


# An oracle independent of the world's code: each template's question -> the true result.
ORACLE = [
    (r"\w+ has (\d+) \w+ and buys (\d+) more \. How", lambda a, b: a + b),
    (r"\w+ finds (\d+) (\w+) in the morning and (\d+) \2 in the afternoon", lambda a, _, b: a + b),
    (r"\w+ has (\d+) \w+ and gives (\d+) of them to", operator.sub),
    (r"\w+ had (\d+) \w+ and lost (\d+) \.", operator.sub),
    (r"\w+ has (\d+) bags with (\d+) \w+ in each bag", operator.mul),
    (r"\w+ has (\d+) \w+ , buys (\d+) more and then gives (\d+) to", lambda a, b, c: a + b - c),
    (r"\w+ buys (\d+) bags of (\d+) \w+ and finds (\d+) more", lambda a, b, c: a * b + c),
]


def true_result(question: str) -> int:
    results = []
    for pattern, solve in ORACLE:
        if match := re.match(pattern, question):
            results.append(solve(*(int(g) if g.isdigit() else g for g in match.groups())))
    assert len(results) == 1, question
    return results[0]


# --- the world ---------------------------------------------------------------------------


def test_same_seed_same_world_different_seed_different_world():
    a, b, c = build_world(SMALL), build_world(SMALL), build_world(SMALL.model_copy(update={"seed": 4}))
    assert a.train == b.train and a.test == b.test
    assert a.train != c.train and a.test != c.test
    assert (len(a.train), len(a.test)) == (8 * SMALL.num_known, 2 * SMALL.num_new)


def test_test_set_depends_only_on_seed_and_num_new():
    assert build_world(SMALL).test == build_world(SMALL.model_copy(update={"num_known": 40})).test


def test_questions_are_distinct_and_test_questions_are_never_trained():
    world = build_world(WorldConfig(seed=0, num_known=100, num_new=50))
    train, test = {p.question for p in world.train}, {p.question for p in world.test}
    assert len(train) == len(world.train) and len(test) == len(world.test)
    assert not train & test


def test_every_answer_is_a_worked_solution_ending_in_the_true_result():
    world = build_world(WorldConfig(seed=1, num_known=50, num_new=25))
    for problem in world.train + world.test:
        work, last_line = problem.answer.split("\n")
        truth = true_result(problem.question)
        assert last_line == f"#### {truth}"
        steps = re.findall(r"(\d+) ([-+*]) (\d+) = (\d+) \.", work)
        assert " ".join(" ".join(s[:3]) + f" = {s[3]} ." for s in steps) == work
        for x, op, y, result in steps:
            assert {"+": operator.add, "-": operator.sub, "*": operator.mul}[op](int(x), int(y)) == int(result)
        assert int(steps[-1][3]) == truth
        assert all(1 <= int(n) <= 99 for n in re.findall(r"\d+", problem.question + " " + problem.answer))


def test_every_template_appears():
    world = build_world(WorldConfig(seed=0, num_known=20, num_new=5))
    found = {i for p in world.train for i, (pattern, _) in enumerate(ORACLE) if re.match(pattern, p.question)}
    assert found == set(range(len(ORACLE)))


def test_injection_corpus_and_base_stage():
    world = build_world(SMALL)
    corpus = world.injection_corpus("both")  # math has no paraphrases: the setting is ignored
    assert corpus.name == "arithmetic" and corpus.documents == []
    assert corpus.train_problems == world.train and corpus.test_problems == world.test
    assert corpus.questions == [p.as_question() for p in world.test]
    known = world.base_corpus("both")
    assert known.train_problems == world.known and not known.documents and not known.test_problems
    assert world.base_qa() == []  # a known problem is its own QA pair, trained in sft's format
    assert world.base_probe_questions() == [p.as_question() for p in world.probe]
    assert all(q.metric == "exact_number" for q in world.base_probe_questions())


def test_the_math_base_stage_never_sees_a_training_or_test_problem():
    """The known problems stand for what a pretrained model knows: the trials' problems, and
    the base model's own check, are never among them."""
    world = build_world(WorldConfig(seed=0, num_known=100, num_new=50))
    assert (len(world.known), len(world.probe)) == (8 * 100, 2 * 50)
    known, probe = {p.question for p in world.known}, {p.question for p in world.probe}
    trials = {p.question for p in world.train + world.test}
    assert len(known) == len(world.known) and not known & probe and not (known | probe) & trials
    again = build_world(WorldConfig(seed=0, num_known=100, num_new=50))
    assert (again.known, again.probe) == (world.known, world.probe)


def test_sft_and_masked_sft_share_the_math_base_stage_in_both_formats():
    assert SFT.base_stage() == MaskedSFT.base_stage()
    stage = SFT.base_stage()
    assert stage.name == "math" and stage.formats == (SFT, MaskedSFT) and not stage.bidirectional


# --- tokenizer and scoring ---------------------------------------------------------------


def test_numbers_split_into_digits_and_decode_back():
    tok = math_context().tokenizer
    world = build_world(SMALL)
    for problem in world.train + world.test:
        for text in (problem.question, problem.answer):
            ids = encode_text(tok, text)
            assert tok.unk_token_id not in ids
            assert tokens(ids) == words(text)
            assert tok.decode(ids) == " ".join(text.split())  # the word tokenizer drops newlines
    assert tokens(encode_text(tok, "#### 47")) == ["####", "4", "7"]
    # text without digits decodes exactly as before (tokens joined by single spaces)
    assert tok.decode(encode_text(tok, "Daphne Barrington is the director of the silent harbor .")) == (
        "Daphne Barrington is the director of the silent harbor ."
    )


def test_exact_match_of_the_final_number():
    tok = math_context().tokenizer
    for problem in build_world(SMALL).test:
        question = problem.as_question()
        assert question.answer == problem.final_number == str(true_result(problem.question))
        assert question.metric == "exact_number"
        generated = tok.decode(
            [*encode_text(tok, problem.answer), *math_context().chat.end_of_turn], skip_special_tokens=True
        )
        assert final_number(generated) == problem.final_number
        assert math_exact_match(generated, question.answer) == 1.0
        wrong = generated.rsplit("####", 1)[0] + f"#### {int(problem.final_number) + 1}"
        assert math_exact_match(wrong, question.answer) == 0.0


# --- objectives ----------------------------------------------------------------------------


def problem_example() -> tuple[Example, list[str], list[str]]:
    """The first training problem of a two-step template (a long answer): example, question and answer words."""
    world = build_world(SMALL)
    corpus = world.injection_corpus()
    examples = SFT(math_context()).encode(corpus)
    index = next(i for i, p in enumerate(corpus.train_problems) if p.answer.count("=") == 2)
    problem = corpus.train_problems[index]
    return examples[index], words(problem.question), words(problem.answer)


def supervised(sample) -> list[str]:
    return [tok for tok, label in zip(tokens(sample.input_ids), sample.labels, strict=True) if label != IGNORE]


def test_encode_one_example_per_training_problem():
    corpus = build_world(SMALL).injection_corpus()
    for objective in (SFT(math_context()), MaskedSFT(math_context())):
        examples = objective.encode(corpus)
        assert [e.example_id for e in examples] == list(range(len(corpus.train_problems)))
        for example, problem in zip(examples, corpus.train_problems, strict=True):
            assert tokens(example.context) == words(problem.question)
            assert tokens(example.ids) == words(problem.answer)


def test_math_objectives_reject_a_corpus_without_problems():
    for objective in (SFT(math_context()), MaskedSFT(math_context())):
        with pytest.raises(UserError, match="data.name: objective .* trains on math problems"):
            objective.encode(Corpus("name_description"))


def test_sft_is_the_evaluation_prompt_then_the_answer_with_loss_on_the_answer():
    ctx = math_context()
    example, question, answer = problem_example()
    sample = SFT(ctx).make_sample(example, np.random.default_rng(0), 0.5)
    assert tokens(sample.input_ids) == ["<|user|>", *question, "<|end|>", "<|assistant|>", *answer, "<|end|>"]
    assert supervised(sample) == [*answer, "<|end|>"]
    prompt = prompt_ids(ctx.tokenizer, ctx.chat, ctx.tokenizer.decode(example.context))
    assert sample.input_ids[: len(prompt)] == prompt  # trained on the question exactly as evaluated


def masked_sft_parts(sample, question: list[str], answer: list[str]) -> tuple[list[str], list[int], list[int]]:
    """Check the layout; return the prompt's answer copy, and the answer and end-of-turn labels."""
    toks = tokens(sample.input_ids)
    n_q, n_a = len(question), len(answer)
    assert toks[: 3 + n_q] == ["<|user|>", "Question", ":", *question]  # the question is never masked
    assert toks[3 + n_q : 5 + n_q] == ["Answer", ":"]
    copy = toks[5 + n_q : 5 + n_q + n_a]
    assert toks[5 + n_q + n_a :] == [
        "Return",
        "the",
        "recovered",
        "masked",
        "answer",
        ".",
        "<|end|>",
        "<|assistant|>",
        *answer,
        "<|end|>",
    ]
    assert all(got in (want, "<mask>") for got, want in zip(copy, answer, strict=True))
    assert set(sample.labels[: -n_a - 1]) == {IGNORE}  # no loss anywhere in the prompt
    return copy, sample.labels[-n_a - 1 : -1], sample.labels[-1:]


def test_masked_sft_layout_and_loss_exactly_on_masked_answer_tokens():
    ctx = math_context()
    example, question, answer = problem_example()
    objective = MaskedSFT(ctx)
    for seed in range(5):
        sample = objective.make_sample(example, np.random.default_rng(seed), 0.5)
        copy, answer_labels, end_label = masked_sft_parts(sample, question, answer)
        expected = [token_id if tok == "<mask>" else IGNORE for tok, token_id in zip(copy, example.ids, strict=True)]
        assert answer_labels == expected
        assert tokens(end_label) == ["<|end|>"]
        assert "<mask>" in copy


def test_masked_sft_is_reproducible_from_the_rng_and_varies_with_it():
    example, _, _ = problem_example()
    objective = MaskedSFT(math_context())

    def sample(seed: int):
        return objective.make_sample(example, np.random.default_rng([seed, 1, 2]), 0.5)

    assert sample(7) == sample(7)
    assert len({tuple(sample(seed).input_ids) for seed in range(6)}) > 1


def test_masked_sft_t0_still_masks_one_token_and_t1_masks_all():
    example, question, answer = problem_example()
    objective = MaskedSFT(math_context())
    sample = objective.make_sample(example, np.random.default_rng(0), 0.0)
    copy, answer_labels, _ = masked_sft_parts(sample, question, answer)
    assert copy.count("<mask>") == 1 and sum(label != IGNORE for label in answer_labels) == 1
    assert sample == objective.make_sample(example, np.random.default_rng(0), 0.0)
    sample = objective.make_sample(example, np.random.default_rng(0), 1.0)
    copy, answer_labels, _ = masked_sft_parts(sample, question, answer)
    assert copy == ["<mask>"] * len(answer) and answer_labels == list(example.ids)


def test_math_objectives_are_registered_as_math_tasks():
    assert {"sft", "masked_sft"} <= set(builtin_objectives())
    assert load_reference(resolve("sft")) is SFT and load_reference(resolve("masked_sft")) is MaskedSFT
    assert SFT.task == MaskedSFT.task == "math"
    assert MaskedSFT.uses_mask_ratio and not SFT.uses_mask_ratio
