"""Each objective's sample spelled out token by token against docs/method.md's rules."""

from __future__ import annotations

import numpy as np
import pytest

from objectives.ar import AR, AROptions
from objectives.base import IGNORE, Example, mask_tokens
from objectives.masked_ar import MaskedAR
from objectives.registry import builtin_objectives, load_reference, resolve
from platform.chat import encode_text
from platform.errors import UserError
from tests.helpers import tiny_context, tokens

DOC = "Daphne Barrington is the director of the silent harbor ."


def example() -> Example:
    return Example(0, tuple(encode_text(tiny_context().tokenizer, DOC)))


def supervised(sample) -> list[str]:
    return [tok for tok, label in zip(tokens(sample.input_ids), sample.labels, strict=True) if label != IGNORE]


def test_ar_is_bos_document_eos_with_loss_on_every_document_token():
    sample = AR(tiny_context()).make_sample(example(), np.random.default_rng(0), 0.5)
    assert tokens(sample.input_ids) == ["<bos>", *DOC.split(), "<eos>"]
    assert supervised(sample) == [*DOC.split(), "<eos>"]  # BOS is the context, never a target


def test_ar_chat_variant_asks_for_a_fact():
    sample = AR(tiny_context(), AROptions(chat=True)).make_sample(example(), np.random.default_rng(0), 0.5)
    assert tokens(sample.input_ids) == [
        "<|user|>",
        "Tell",
        "me",
        "a",
        "fact",
        ".",
        "<|end|>",
        "<|assistant|>",
        *DOC.split(),
        "<|end|>",
    ]
    assert supervised(sample) == [*DOC.split(), "<|end|>"]


def test_masked_ar_layout_and_loss_mask():
    ctx = tiny_context()
    sample = MaskedAR(ctx).make_sample(example(), np.random.default_rng(3), 0.5)
    toks = tokens(sample.input_ids)
    n = len(DOC.split())
    user_doc = toks[1 : 1 + n]
    assert toks[0] == "<|user|>"
    assert all(got in (want, "<mask>") for got, want in zip(user_doc, DOC.split(), strict=True))
    assert "<mask>" in user_doc and user_doc != DOC.split()
    rest = toks[1 + n :]
    assert rest == [
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
    # loss only on the assistant's copy of the document and the end-of-turn token
    assert supervised(sample) == [*DOC.split(), "<|end|>"]
    first_label = next(i for i, label in enumerate(sample.labels) if label != IGNORE)
    assert toks[first_label - 1] == ":"


@pytest.mark.parametrize(("t", "expected"), [(0.0, 0), (1.0, 10)])
def test_mask_ratio_extremes(t, expected):
    _, masked = mask_tokens(tuple(range(10)), np.random.default_rng(0), t, 99)
    assert masked.sum() == expected


def test_masking_is_reproducible_from_the_generator_and_near_t():
    ids = tuple(range(4000))
    a = mask_tokens(ids, np.random.default_rng([1, 2, 3]), 0.3, -1)[0]
    b = mask_tokens(ids, np.random.default_rng([1, 2, 3]), 0.3, -1)[0]
    c = mask_tokens(ids, np.random.default_rng([1, 3, 3]), 0.3, -1)[0]
    assert a == b and a != c
    assert abs(np.mean(np.array(a) == -1) - 0.3) < 0.03


def test_registry_finds_builtins_and_dotted_paths():
    assert {"ar", "masked_ar"} <= set(builtin_objectives())
    assert load_reference(resolve("ar")) is AR
    assert load_reference(resolve("objectives.masked_ar.MaskedAR")) is MaskedAR
    assert load_reference(resolve("objectives.masked_ar:MaskedAR")) is MaskedAR


def test_registry_errors_are_clear():
    with pytest.raises(UserError, match="unknown objective 'nope'; known: .*masked_ar"):
        resolve("nope")
    with pytest.raises(UserError, match="cannot import objective"):
        resolve("no_such_module.Thing")
    with pytest.raises(UserError, match="not an Objective subclass"):
        resolve("numpy:ndarray")
