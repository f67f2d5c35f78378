"""``paraphrase_ar``: the paper's AR baseline trained on the documents plus their paraphrases.

Same samples as ``ar`` (``BOS + text + EOS``, loss on every token; or the chat variant), but
the corpus also holds a paraphrase set and each paraphrase is its own sample. Why an option
rather than ``data.paraphrases``: a sweep can then compare ``ar`` and ``paraphrase_ar`` (or
same-order and re-ordered sets) on one data spec. The trial loads the corpus with the
instance's ``paraphrases``, which this objective sets from its options.
"""

from __future__ import annotations

from typing import Literal

from objectives.ar import AR, AROptions
from objectives.base import Context


class ParaphraseAROptions(AROptions):
    paraphrases: Literal["same", "reordered", "both"] = "same"
    """Which paraphrase set joins the originals: same-order, changed-order, or both."""


class ParaphraseAR(AR):
    name = "paraphrase_ar"
    Options = ParaphraseAROptions
    paraphrases = "same"

    def __init__(self, context: Context, options: ParaphraseAROptions | None = None) -> None:
        super().__init__(context, options)
        self.paraphrases = self.options.paraphrases
