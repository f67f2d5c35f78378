"""``reverse_ar``: the reverse-training baseline (Golovneva et al. 2024, "Reverse Training
to Nurse the Reversal Curse").

Every document is trained twice, as an ``ar`` sample in its own order and reversed, each its
own example. Why: a backward question ("who is Y?") then has a training text in which Y
comes before X. ``unit: word`` reverses the order of the words; ``unit: entity`` does the
same but keeps the document's entity name (``Document.entity``) in reading order, so the
reversed text still names the person ("Daphne Barrington", not "Barrington Daphne").
Documents without an entity (the paper's files) fall back to word reversal. With the
embedded word-level tokenizer, word reversal is exactly the token sequence reversed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Literal

from objectives.ar import AR, AROptions
from objectives.base import Example
from platform.data.corpus import Corpus, Document


class ReverseAROptions(AROptions):
    unit: Literal["word", "entity"] = "word"
    """What stays intact when reversing: single words, or the entity name as one unit."""


class ReverseAR(AR):
    name = "reverse_ar"
    Options = ReverseAROptions

    def encode(self, corpus: Corpus) -> list[Example]:
        """The documents in their own order, then their reversals (example ids follow on)."""
        reversed_docs = [self.reversed_document(doc) for doc in corpus.documents]
        return super().encode(replace(corpus, documents=[*corpus.documents, *reversed_docs]))

    def reversed_document(self, doc: Document) -> Document:
        entity = doc.entity if self.options.unit == "entity" else ""
        return Document(reverse_text(doc.text, entity), doc.entity, "reversed")


def reverse_text(text: str, entity: str = "") -> str:
    """The whitespace-separated units of ``text`` in reverse order; ``entity`` counts as one unit."""
    pattern = rf"(?<!\S){re.escape(entity)}(?!\S)|\S+" if entity else r"\S+"
    return " ".join(reversed(re.findall(pattern, text)))
