"""The spec's ``data`` section -> a Corpus: a synthetic world, or the paper's files."""

from __future__ import annotations

from platform.data.corpus import Corpus
from platform.data.worlds.name_description import build_world
from platform.errors import UserError
from platform.spec import DataSpec

WORLDS = ("name_description",)


def load_corpus(data: DataSpec) -> Corpus:
    if data.source == "world":
        if data.name not in WORLDS:
            raise UserError(f"unknown world {data.name!r}; known: {', '.join(WORLDS)}", where="data.name")
        cfg = data.world
        return build_world(cfg.seed, cfg.num_known, cfg.num_new, cfg.qa_fraction).injection_corpus(data.paraphrases)
    if data.source == "paper":
        from platform.data.paper_files import load_paper_dataset

        return load_paper_dataset(data.name, data.path, data.train_files, data.test_files, paraphrases=data.paraphrases)
    raise UserError(f"data source {data.source!r} is not supported yet", where="data.source")
