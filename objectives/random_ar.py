"""``random_ar``: the paper's control for ``masked_ar``.

Same layout and loss mask as ``masked_ar``, but every document token in the prompt is
replaced by a uniformly random non-special token, whatever t. Why: it tells whether
``masked_ar`` gains from reading a partly masked copy of the document, or merely from the
longer chat-format sample with the document as the assistant's answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from objectives.base import Context
from objectives.masked_ar import MaskedAR


class RandomAR(MaskedAR):
    name = "random_ar"
    uses_mask_ratio = False

    def __init__(self, context: Context, options=None) -> None:
        super().__init__(context, options)
        self._ordinary_ids = ordinary_token_ids(context)

    def corrupt(self, ids: Sequence[int], rng: np.random.Generator, t: float) -> tuple[list[int], np.ndarray]:
        """One random ordinary token per document token, every position changed; ``t`` plays no part."""
        return self._ordinary_ids[rng.integers(len(self._ordinary_ids), size=len(ids))].tolist(), np.ones(
            len(ids), bool
        )


def ordinary_token_ids(context: Context) -> np.ndarray:
    """Every id of the vocabulary except special ones (BOS, EOS, pad, mask, chat and reserved tokens).

    Why also the added tokens flagged special: Llama's 250 reserved tokens are special but not
    listed in ``all_special_ids``; a random prompt must not contain turn markers or masks.
    """
    tokenizer = context.tokenizer
    special = set(tokenizer.all_special_ids) | {context.mask_token_id}
    special |= {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    return np.array([i for i in range(len(tokenizer)) if i not in special], dtype=np.int64)
