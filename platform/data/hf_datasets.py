"""Hugging Face ``datasets`` as a data source (``data.source: huggingface``), read locally only.

Why: users often keep their data as Hugging Face datasets (``save_to_disk`` directories,
or the JSON/JSONL/Parquet files the hub serves) rather than the paper's files. This reader
turns them into the same ``Corpus`` as ``paper_files``, with the same rules: the layout of
``data.name`` (``name_description``, ``biography``, ``wiki``, ``gsm8k``) maps each (group, task)
to a direction, and every mistake is a ``UserError`` naming the path, split or row.

No network: only paths checked to exist locally are passed to ``datasets``, so a typo can
never turn into a hub download. ``HF_DATASETS_OFFLINE`` is also set to 1 (unless the user set
it) before this module imports ``datasets``; that only takes effect if nothing imported
``datasets`` earlier, which is why the local-paths rule is the guarantee.

Where each split comes from:

- ``data.train_files`` / ``data.test_files``, when given: JSON, JSONL or Parquet files, or
  directories holding one ``Dataset`` saved with ``save_to_disk`` (relative names are taken
  inside ``data.path``). ``data.paraphrases`` then plays no part, as for the paper's files.
- otherwise the directory ``data.path``: a ``DatasetDict`` saved with ``save_to_disk``, or one
  entry per split inside it (a ``<split>/`` saved ``Dataset``, or ``<split>.jsonl``,
  ``<split>.json``, ``<split>.parquet``). The test split is ``test``; the training split
  follows ``data.paraphrases`` and the paper's file names (``TRAIN_SPLITS``).

Columns (the paper's names): ``text`` in training splits; ``group``, ``task``, ``question``,
``answer`` in test splits; ``question``, ``answer`` in both splits of ``gsm8k``, the answer
ending in ``#### <number>``. Other columns are ignored. A missing column is an error that
lists the columns found and the ones expected.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from platform.data.corpus import Corpus, Document, MathProblem, Question
from platform.data.paper_files import direction_of, get_layout
from platform.errors import UserError
from platform.spec import DataSpec

if TYPE_CHECKING:
    from datasets import Dataset

TRAIN_SPLITS: dict[str, tuple[str, ...]] = {
    "none": ("train",),
    "same": ("train_paraphrase_same_order",),
    "reordered": ("train_paraphrase_change_order",),
    "both": ("train_paraphrase_same_order", "train_paraphrase_change_order"),
}
"""The training split(s) read for each ``data.paraphrases`` setting: the paper's file names."""
TEST_SPLIT = "test"
FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
"""File suffix -> the ``datasets`` packaged builder that reads it."""
QA_TRAIN_COLUMNS = ("text",)
QA_TEST_COLUMNS = ("group", "task", "question", "answer")
MATH_COLUMNS = ("question", "answer")
_FINAL_NUMBER = re.compile(r"####\s*-?[\d,]*\.?\d+\s*$")


def load_hf_corpus(data: DataSpec, paraphrases: str | None = None) -> Corpus:
    """The corpus of ``data``; ``paraphrases`` (an objective's own setting) overrides the spec's."""
    layout = get_layout(data.name)
    root = _root(data.path)
    train = _split_sources(root, data.train_files, TRAIN_SPLITS[paraphrases or data.paraphrases], "train")
    test = _split_sources(root, data.test_files, (TEST_SPLIT,), "test")
    if data.columns:  # the dataset's own column names -> the ones expected here
        train = [(where, _renamed(ds, data.columns)) for where, ds in train]
        test = [(where, _renamed(ds, data.columns)) for where, ds in test]
    if layout.kind == "math":
        corpus = Corpus(
            name=data.name,
            train_problems=[p for where, ds in train for p in _problems(ds, where)],
            test_problems=[p for where, ds in test for p in _problems(ds, where)],
        )
        _require_nonempty(corpus.train_problems, "training problems", train)
        _require_nonempty(corpus.test_problems, "test problems", test)
        return corpus
    corpus = Corpus(
        name=data.name,
        documents=[Document(text) for where, ds in train for (text,) in _rows(ds, QA_TRAIN_COLUMNS, where)],
        questions=[q for where, ds in test for q in _questions(ds, data.name, where)],
    )
    _require_nonempty(corpus.documents, "training documents", train)
    _require_nonempty(corpus.questions, "test questions", test)
    return corpus


def _renamed(dataset, columns: dict[str, str]):
    """Rename ``theirs -> ours`` for each ``ours: theirs`` of ``data.columns`` present here."""
    mapping = {theirs: ours for ours, theirs in columns.items() if theirs in dataset.column_names and theirs != ours}
    clashing = [ours for ours in mapping.values() if ours in dataset.column_names]
    return dataset.remove_columns(clashing).rename_columns(mapping)


# --- finding and loading the splits -----------------------------------------------------


def _root(path: str | None) -> Path | None:
    """``data.path``, checked to exist before anything is handed to ``datasets``."""
    if path is None:
        return None
    root = Path(path).expanduser()
    if not root.exists():
        raise UserError("no such file or directory", where=f"data.path ({path})")
    return root


def _split_sources(
    root: Path | None, files: Sequence[str] | None, splits: Sequence[str], field: str
) -> list[tuple[str, Dataset]]:
    """(where, dataset) for each explicit file of ``data.<field>_files``, else each split of ``root``."""
    if files:
        sources = []
        for name in files:
            path = root / name if root is not None and root.is_dir() else Path(name).expanduser()
            if not path.exists():
                raise UserError("no such file or directory", where=f"data.{field}_files ({path})")
            sources.append((str(path), _load_path(path)))
        return sources
    if root is None:
        raise UserError(f"no {field} data: give data.path or data.{field}_files", where="data.path")
    if not root.is_dir():
        raise UserError(
            "expected a directory (a saved DatasetDict, or one entry per split); name single files "
            "with data.train_files and data.test_files",
            where=f"data.path ({root})",
        )
    return [(f"{root} [split {split!r}]", _load_split(root, split)) for split in splits]


def _load_split(root: Path, split: str) -> Dataset:
    """Split ``split`` of the directory ``root`` (module docstring: the accepted forms)."""
    if (root / "dataset_dict.json").exists():
        splits = _datasets().load_from_disk(str(root))
        if split not in splits:
            raise UserError(
                f"the saved DatasetDict has no split {split!r}; splits found: {', '.join(splits) or 'none'}",
                where=f"data.path ({root})",
            )
        return splits[split]
    if (root / split).is_dir():
        return _load_path(root / split)
    files = [root / f"{split}{suffix}" for suffix in FILE_BUILDERS]
    found = [f for f in files if f.is_file()]
    if len(found) > 1:
        raise UserError(
            f"several files for split {split!r}: {', '.join(f.name for f in found)}", where=f"data.path ({root})"
        )
    if found:
        return _load_path(found[0])
    listing = ", ".join(sorted(p.name for p in root.iterdir())) or "nothing"
    raise UserError(
        f"no split {split!r}: expected a DatasetDict saved with save_to_disk, a {split}/ directory "
        f"saved with save_to_disk or a {split}.jsonl, {split}.json or {split}.parquet file; found: {listing}",
        where=f"data.path ({root})",
    )


def _load_path(path: Path) -> Dataset:
    """One ``Dataset`` from a ``save_to_disk`` directory or a JSON/JSONL/Parquet file."""
    datasets = _datasets()
    if path.is_dir():
        try:
            loaded = datasets.load_from_disk(str(path))
        except FileNotFoundError as error:
            raise UserError(f"not a dataset saved with save_to_disk ({error})", where=str(path)) from None
        if isinstance(loaded, datasets.DatasetDict):
            raise UserError(
                f"a DatasetDict (splits: {', '.join(loaded)}), expected one split; name its directory, "
                f"e.g. {path / next(iter(loaded), 'train')}",
                where=str(path),
            )
        return loaded
    builder = FILE_BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise UserError(f"unsupported file type {path.suffix!r}; expected {', '.join(FILE_BUILDERS)}", where=str(path))
    # A throw-away cache: ``keep_in_memory`` loads the table, so nothing is left behind to go stale.
    with tempfile.TemporaryDirectory(prefix="kip-hf-") as cache:
        try:
            return datasets.load_dataset(
                builder, data_files=str(path.resolve()), split="train", cache_dir=cache, keep_in_memory=True
            )
        except (datasets.exceptions.DatasetsError, ValueError, OSError) as error:
            cause = error.__cause__ or error  # DatasetGenerationError hides the parser's message
            raise UserError(f"cannot read as {builder}: {cause}", where=str(path)) from None


def _datasets():
    """The ``datasets`` module, imported lazily with offline mode on unless the user set it."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    return datasets


# --- rows -> corpus items ---------------------------------------------------------------


def _rows(
    dataset: Dataset, columns: Sequence[str], where: str, *, may_be_empty: Sequence[str] = ()
) -> list[tuple[str, ...]]:
    """The string values of ``columns`` per row; a missing column, or a non-string or blank value, fails."""
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise UserError(
            f"missing column(s) {', '.join(missing)}; found columns: {', '.join(dataset.column_names) or 'none'}; "
            f"expected: {', '.join(columns)}",
            where=where,
        )
    rows = []
    for number, record in enumerate(dataset.select_columns(list(columns)).to_list(), start=1):
        values = []
        for column in columns:
            value = record[column]
            if value is None and column in may_be_empty:
                value = ""
            if not isinstance(value, str):
                raise UserError(
                    f"column {column!r} must hold strings, got {type(value).__name__}", where=f"{where}, row {number}"
                )
            if not value.strip() and column not in may_be_empty:
                raise UserError(f"column {column!r} is empty", where=f"{where}, row {number}")
            values.append(value)
        rows.append(tuple(values))
    return rows


def _questions(dataset: Dataset, layout: str, where: str) -> list[Question]:
    """Test rows as questions, the direction derived from (group, task) by the layout."""
    return [
        Question(question, answer, group, task, direction_of(layout, group, task, where=f"{where}, row {number}"))
        for number, (group, task, question, answer) in enumerate(
            _rows(dataset, QA_TEST_COLUMNS, where, may_be_empty=["group"]), start=1
        )
    ]


def _problems(dataset: Dataset, where: str) -> list[MathProblem]:
    """GSM8K rows; an answer not ending in ``#### <number>`` could never be scored correct."""
    problems = []
    for number, (question, answer) in enumerate(_rows(dataset, MATH_COLUMNS, where), start=1):
        if not _FINAL_NUMBER.search(answer):
            raise UserError(
                f"answer must end with '#### <number>', it ends with {answer.strip()[-40:]!r}",
                where=f"{where}, row {number}",
            )
        problems.append(MathProblem(question, answer))
    return problems


def _require_nonempty(items: Sequence[object], what: str, sources: list[tuple[str, Dataset]]) -> None:
    """An empty split would train or evaluate on nothing and report a meaningless score."""
    if not items:
        raise UserError(f"no {what}", where="; ".join(where for where, _ in sources))
