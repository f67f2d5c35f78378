"""The spec's ``data`` section -> a Corpus: a synthetic world, the paper's files or a HF dataset."""

from __future__ import annotations

from platform.data.corpus import Corpus
from platform.data.worlds import WORLDS, World
from platform.errors import UserError
from platform.spec import DataSpec


def build_world(data: DataSpec) -> World:
    if data.name not in WORLDS:
        raise UserError(f"unknown world {data.name!r}; known: {', '.join(sorted(WORLDS))}", where="data.name")
    return WORLDS[data.name](data.world)


def load_corpus(data: DataSpec, paraphrases: str | None = None) -> Corpus:
    """The trial's corpus; ``paraphrases`` (an objective's own setting) overrides the spec's."""
    chosen = paraphrases or data.paraphrases
    if data.source == "world":
        return build_world(data).injection_corpus(chosen)
    if data.source == "paper":
        from platform.data.paper_files import load_paper_dataset

        return load_paper_dataset(data.name, data.path, data.train_files, data.test_files, paraphrases=chosen)
    if data.source == "huggingface":
        from platform.data.hf_datasets import load_hf_corpus

        return load_hf_corpus(data, chosen)
    raise UserError(f"data source {data.source!r} is not supported yet", where="data.source")
