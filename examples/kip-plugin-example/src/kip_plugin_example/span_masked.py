"""``span_masked_ar``: ``masked_ar`` with contiguous masked spans instead of independent tokens.

Why spans: with independent Bernoulli(t) masks a masked name is often half visible ("Daphne
<mask>"), so the model can fill it from one neighbour; masking whole spans (as T5 and
SpanBERT do) forces it to recall multi-token facts from the rest of the document. About
t x (document length) tokens are masked in spans of geometric length (mean ``mean_span``).
Layout and loss mask are ``masked_ar``'s: only how the prompt copy is corrupted changes, through
the one hook masking objectives have (``MaskingObjective.corrupt``, ``objectives/base.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from objectives.masked_ar import MaskedAR


class SpanMaskedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mean_span: float = Field(3.0, ge=1.0)
    """Mean length of a masked span, in tokens (1.0: every span is one token)."""


class SpanMaskedAR(MaskedAR):
    name = "span_masked_ar"
    Options = SpanMaskedOptions

    def corrupt(self, ids: Sequence[int], rng: np.random.Generator, t: float) -> tuple[list[int], np.ndarray]:
        """The mask token over spans covering about t of the tokens; which positions it masked."""
        masked = span_mask(len(ids), rng, t, self.options.mean_span)
        return np.where(masked, self.ctx.mask_token_id, np.asarray(ids, dtype=np.int64)).tolist(), masked


def span_mask(length: int, rng: np.random.Generator, t: float, mean_span: float) -> np.ndarray:
    """Boolean mask of exactly round(t x length) positions, laid down as random spans.

    Spans may overlap or touch (then they merge); each new span is cut to what is still
    missing, so the total never overshoots.
    """
    target = round(t * length)
    masked = np.zeros(length, dtype=bool)
    while (missing := target - int(masked.sum())) > 0:
        span = min(int(rng.geometric(1.0 / mean_span)), missing)
        start = int(rng.integers(length - span + 1))
        masked[start : start + span] = True
    return masked
