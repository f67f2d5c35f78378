"""Small builders shared by unit tests: a real tiny tokenizer and objective context."""

from __future__ import annotations

from functools import cache

from objectives.base import Context
from platform.chat import ChatFormat
from platform.data.worlds import vocabulary_texts
from platform.tokenization import build_word_tokenizer


@cache
def tiny_context() -> Context:
    tokenizer = build_word_tokenizer(vocabulary_texts())
    return Context(tokenizer, ChatFormat.from_tokenizer(tokenizer), tokenizer.mask_token_id)


def tokens(ids) -> list[str]:
    return tiny_context().tokenizer.convert_ids_to_tokens(list(ids))
