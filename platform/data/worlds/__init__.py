"""Synthetic knowledge worlds generated in code: the embedded default needs no download.

A world is built from the spec's ``data.world`` section and offers two views:
- the base stage (``base_corpus``, ``base_qa``, ``base_probe_questions``): known entities'
  documents, or known problems, used once to teach the tiny model the formats;
- ``injection_corpus(paraphrases)``: what a trial trains on and is evaluated with.
``WORLDS`` maps ``data.name`` to a builder; ``vocabulary_texts`` feeds the word tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from platform.data.corpus import Corpus, Question
from platform.spec import WorldConfig


class World(Protocol):
    def base_corpus(self, paraphrases: str = "none") -> Corpus: ...
    def base_qa(self) -> list[Question]: ...
    def base_probe_questions(self) -> list[Question]: ...
    def injection_corpus(self, paraphrases: str = "none") -> Corpus: ...


def _name_description(config: WorldConfig) -> World:
    from platform.data.worlds.name_description import build_world

    return build_world(config.seed, config.num_known, config.num_new, config.qa_fraction)


def _arithmetic(config: WorldConfig) -> World:
    from platform.data.worlds.arithmetic import build_world

    return build_world(config)


def _biography(config: WorldConfig) -> World:
    from platform.data.worlds.biography import build_world

    return build_world(config.seed, config.num_known, config.num_new, config.qa_fraction)


def _wiki(config: WorldConfig) -> World:
    from platform.data.worlds.wiki import build_world

    return build_world(config.seed, config.num_known, config.num_new, config.qa_fraction)


WORLDS: dict[str, Callable[[WorldConfig], World]] = {
    "name_description": _name_description,
    "arithmetic": _arithmetic,
    "biography": _biography,
    "wiki": _wiki,
}


def vocabulary_texts() -> list[str]:
    """Every word any world can produce (the tokenizer is shared by all worlds)."""
    from platform.data.worlds import arithmetic, biography, name_description, wiki

    return (
        name_description.vocabulary_texts()
        + arithmetic.vocabulary_texts()
        + biography.vocabulary_texts()
        + wiki.vocabulary_texts()
    )
