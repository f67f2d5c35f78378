"""paraphrase_ar, random_ar and reverse_ar spelled out token by token (docs/method.md, Golovneva et al.)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from objectives.base import IGNORE, Example
from objectives.masked_ar import MaskedAR
from objectives.paraphrase_ar import ParaphraseAR, ParaphraseAROptions
from objectives.random_ar import RandomAR
from objectives.reverse_ar import ReverseAR, ReverseAROptions, reverse_text
from platform.chat import encode_text
from platform.data.corpus import Corpus, Document
from platform.data.sources import load_corpus
from platform.spec import DataSpec, WorldConfig
from tests.helpers import tiny_context, tokens

NAME = "Daphne Barrington"
DESCRIPTION = "the director of the silent harbor"
DOC = f"{NAME} is {DESCRIPTION} ."
SMALL_WORLD = DataSpec(world=WorldConfig(num_known=2, num_new=3))


def example(text: str = DOC, example_id: int = 0) -> Example:
    return Example(example_id, tuple(encode_text(tiny_context().tokenizer, text)))


def supervised(sample) -> list[str]:
    return [tok for tok, label in zip(tokens(sample.input_ids), sample.labels, strict=True) if label != IGNORE]


# -- paraphrase_ar ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("setting", "per_person", "kinds"),
    [
        ("same", 5, {"original", "paraphrase_same"}),
        ("reordered", 5, {"original", "paraphrase_reordered"}),
        ("both", 9, {"original", "paraphrase_same", "paraphrase_reordered"}),
    ],
)
def test_paraphrase_ar_loads_originals_plus_its_paraphrase_set(setting, per_person, kinds):
    objective = ParaphraseAR(tiny_context(), ParaphraseAROptions(paraphrases=setting))
    assert objective.paraphrases == setting  # what the trial passes to load_corpus
    corpus = load_corpus(SMALL_WORLD, objective.paraphrases)  # data.paraphrases is "none"
    assert len(corpus.documents) == 3 * per_person
    assert {doc.kind for doc in corpus.documents} == kinds
    examples = objective.encode(corpus)
    assert [e.example_id for e in examples] == list(range(len(corpus.documents)))
    for doc, ex in zip(corpus.documents, examples, strict=True):  # each paraphrase its own sample
        sample = objective.make_sample(ex, np.random.default_rng(0), 0.5)
        assert tokens(sample.input_ids) == ["<bos>", *doc.text.split(), "<eos>"]
        assert supervised(sample) == [*doc.text.split(), "<eos>"]


def test_paraphrase_ar_defaults_to_same_order_and_keeps_the_chat_variant():
    assert ParaphraseAR.paraphrases == "same" and ParaphraseAR(tiny_context()).paraphrases == "same"
    sample = ParaphraseAR(tiny_context(), ParaphraseAROptions(chat=True)).make_sample(
        example(), np.random.default_rng(0), 0.5
    )
    assert tokens(sample.input_ids)[:8] == ["<|user|>", "Tell", "me", "a", "fact", ".", "<|end|>", "<|assistant|>"]
    assert supervised(sample) == [*DOC.split(), "<|end|>"]
    with pytest.raises(ValidationError):
        ParaphraseAROptions(paraphrases="none")


# -- random_ar -------------------------------------------------------------------------------
def test_random_ar_replaces_every_prompt_document_token_by_an_ordinary_token():
    ctx = tiny_context()
    n = len(DOC.split())
    sample = RandomAR(ctx).make_sample(example(), np.random.default_rng(3), 0.5)
    prompt_doc = sample.input_ids[1 : 1 + n]
    special = set(ctx.tokenizer.all_special_ids)
    assert not special & set(prompt_doc)
    assert tokens(prompt_doc) != DOC.split()
    toks = tokens(sample.input_ids)
    assert toks[0] == "<|user|>"
    assert toks[1 + n :] == [
        "Return",
        "the",
        "recovered",
        "masked",
        "passage",
        ".",
        "<|end|>",
        "<|assistant|>",
        "Here",
        "is",
        "the",
        "recovered",
        "text",
        ":",
        *DOC.split(),
        "<|end|>",
    ]


def test_random_ar_loss_mask_is_masked_ar_s():
    ctx = tiny_context()
    random_sample = RandomAR(ctx).make_sample(example(), np.random.default_rng(3), 0.5)
    masked_sample = MaskedAR(ctx).make_sample(example(), np.random.default_rng(3), 0.5)
    assert random_sample.labels == masked_sample.labels
    assert supervised(random_sample) == [*DOC.split(), "<|end|>"]


def test_random_ar_is_reproducible_and_ignores_t():
    objective = RandomAR(tiny_context())
    draw = [
        objective.make_sample(example(), np.random.default_rng(seed), t).input_ids
        for seed, t in ((1, 0.0), (1, 1.0), (2, 0.5))
    ]
    assert draw[0] == draw[1]  # same generator, any t: same sample
    assert draw[0] != draw[2]
    assert RandomAR.uses_mask_ratio is False


def test_random_ar_draws_uniformly_from_the_non_special_vocabulary():
    ctx = tiny_context()
    long_doc = Example(0, tuple(encode_text(ctx.tokenizer, DOC)) * 3000)
    drawn, changed = RandomAR(ctx).corrupt(long_doc.ids, np.random.default_rng(0), 0.5)
    assert changed.all()
    ordinary = set(range(len(ctx.tokenizer))) - set(ctx.tokenizer.all_special_ids)
    assert set(drawn) == ordinary  # ~36000 draws over ~900 ids: every one appears
    counts = np.bincount(drawn)[sorted(ordinary)]
    assert counts.max() < 4 * counts.mean()


# -- reverse_ar ------------------------------------------------------------------------------
def two_document_corpus() -> Corpus:
    return Corpus("t", documents=[Document(DOC, NAME), Document(f"{DESCRIPTION} is {NAME} .", NAME)])


def test_reverse_ar_trains_each_document_in_both_orders_as_separate_examples():
    objective = ReverseAR(tiny_context())
    examples = objective.encode(two_document_corpus())
    assert [e.example_id for e in examples] == [0, 1, 2, 3]
    assert tokens(examples[0].ids) == DOC.split()
    assert tokens(examples[2].ids) == DOC.split()[::-1]  # word level: the token sequence reversed
    reversed_sample = objective.make_sample(examples[2], np.random.default_rng(0), 0.5)
    assert tokens(reversed_sample.input_ids) == ["<bos>", *DOC.split()[::-1], "<eos>"]
    assert supervised(reversed_sample) == [*DOC.split()[::-1], "<eos>"]


def test_reverse_ar_entity_level_keeps_the_name_intact():
    objective = ReverseAR(tiny_context(), ReverseAROptions(unit="entity"))
    examples = objective.encode(two_document_corpus())
    assert tokens(examples[2].ids) == [
        ".",
        "harbor",
        "silent",
        "the",
        "of",
        "director",
        "the",
        "is",
        "Daphne",
        "Barrington",
    ]
    assert tokens(examples[3].ids) == [
        ".",
        "Daphne",
        "Barrington",
        "is",
        "harbor",
        "silent",
        "the",
        "of",
        "director",
        "the",
    ]


def test_reversed_documents_are_marked_and_fall_back_to_words_without_an_entity():
    objective = ReverseAR(tiny_context(), ReverseAROptions(unit="entity"))
    reversed_doc = objective.reversed_document(Document(DOC, NAME))
    assert (reversed_doc.kind, reversed_doc.entity) == ("reversed", NAME)
    assert reverse_text(DOC, "") == " ".join(DOC.split()[::-1])
    assert reverse_text("Daphne Barringtons is here", NAME) == "here is Barringtons Daphne"  # whole words only
