"""The paper's dataset files, read exactly as published (xup5/masked_arLLM, ``datasets/``).

Why a dedicated reader: users bring these files unchanged, and a mistake in them (a wrong
file, a truncated line, a field renamed) would otherwise surface hours later as a silently
wrong accuracy. Every problem is a ``UserError`` naming the file (and the 1-based line of a
JSONL file); nothing is skipped except blank JSONL lines.

Formats (docs/method.md, "Data"):

- training files: a JSON list of ``{"text": ...}`` objects, each paraphrase its own item;
- test files: JSONL, one ``{"group", "task", "question", "answer"}`` object a line;
- GSM8K-format math files: JSONL or a JSON list of ``{"question", "answer"}``, the answer
  ending in ``#### <number>``.

The published repository keeps all sets side by side in one ``datasets/`` directory, named
``<prefix>_train_no_paraphrase.json``, ``<prefix>_train_paraphrase_same_order.json``,
``<prefix>_train_paraphrase_change_order.json`` (``ND_train_paraphrase.json`` for
NameDescription, whose paraphrases all keep the order) and ``<prefix>_test.jsonl``, with the
prefixes ``ND``, ``biography`` and ``wiki``. The layouts below look for exactly those names so
that pointing at that directory never mixes sets or paraphrase variants.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from platform.data.corpus import Corpus, Direction, Document, MathProblem, Question
from platform.errors import UserError

Paraphrases = Literal["none", "same", "reordered", "both"]

_ANY_GROUP = None
"""Wildcard group in a direction table: Biography and Wiki leave ``group`` empty."""

_MAX_WARNINGS = 10
"""Answer-coverage warnings emitted one by one; the rest are counted in one summary warning,
so loading the wrong training file does not flood the log with hundreds of lines."""


@dataclass(frozen=True)
class Layout:
    """Where a dataset's files are inside a directory, and how its questions map to directions.

    ``train_globs`` maps the spec's ``data.paraphrases`` setting to glob patterns; every
    pattern must match at least one file, and all matches are loaded.
    """

    name: str
    kind: Literal["qa", "math"]
    train_globs: Mapping[str, tuple[str, ...]]
    test_globs: tuple[str, ...]
    directions: Mapping[tuple[str | None, str], Direction]


def _qa_train_globs(prefix: str) -> dict[str, tuple[str, ...]]:
    """Biography and Wiki publish the same three training variants under their prefix."""
    same = f"{prefix}_train_paraphrase_same_order.json"
    changed = f"{prefix}_train_paraphrase_change_order.json"
    return {
        "none": (f"{prefix}_train_no_paraphrase.json",),
        "same": (same,),
        "reordered": (changed,),
        "both": (same, changed),
    }


LAYOUTS: dict[str, Layout] = {
    "name_description": Layout(
        name="name_description",
        kind="qa",
        train_globs={
            "none": ("ND_train_no_paraphrase.json",),
            "same": ("ND_train_paraphrase.json",),
        },
        test_globs=("ND_test.jsonl",),
        directions={
            ("NameIsDescription", "N2D"): "forward",
            ("NameIsDescription", "D2N"): "backward",
            ("DescriptionIsName", "N2D"): "backward",
            ("DescriptionIsName", "D2N"): "forward",
        },
    ),
    "biography": Layout(
        name="biography",
        kind="qa",
        train_globs=_qa_train_globs("biography"),
        test_globs=("biography_test.jsonl",),
        directions={(_ANY_GROUP, "N2D"): "forward", (_ANY_GROUP, "D2N"): "backward"},
    ),
    "wiki": Layout(
        name="wiki",
        kind="qa",
        train_globs=_qa_train_globs("wiki"),
        test_globs=("wiki_test.jsonl",),
        directions={(_ANY_GROUP, "forward"): "forward", (_ANY_GROUP, "backward"): "backward"},
    ),
    "gsm8k": Layout(
        name="gsm8k",
        kind="math",
        # "*train.jsonl", not "*train*": GSM8K ships train_socratic.jsonl next to train.jsonl.
        train_globs={"none": ("*train.jsonl",)},
        test_globs=("*test.jsonl",),
        directions={},
    ),
}


def get_layout(name: str) -> Layout:
    """The registered layout ``name``; an unknown name lists the known ones."""
    if name not in LAYOUTS:
        raise UserError(f"unknown paper dataset layout {name!r}; known: {', '.join(LAYOUTS)}", where="data.name")
    return LAYOUTS[name]


def direction_of(layout: str, group: str, task: str, *, where: str | None = None) -> Direction:
    """Forward or backward for a test question, from the layout's (group, task) table.

    Why a table: the rule differs per dataset (NameDescription flips with the group,
    Biography and Wiki ignore it), and an unknown pair must stop the run rather than be
    scored under a guessed direction. ``where`` names the file and line for the error.
    """
    table = get_layout(layout).directions
    direction = table.get((group, task)) or table.get((_ANY_GROUP, task))
    if direction is None:
        known = ", ".join(f"({'any group' if g is None else repr(g)}, {t!r})" for g, t in table) or "none"
        raise UserError(
            f"unknown (group, task) = ({group!r}, {task!r}) for layout {layout!r}; known: {known}",
            where=where,
        )
    return direction


# --- reading and validating files -------------------------------------------------------


def _read_text(path: Path) -> str:
    """The file's text; a missing file, a directory or invalid UTF-8 is a UserError."""
    if not path.exists():
        raise UserError("file not found", where=str(path))
    if path.is_dir():
        raise UserError("is a directory, expected a file", where=str(path))
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise UserError(f"not valid UTF-8 at byte offset {err.start} (line {line})", where=str(path)) from None


def _parse_json_document(path: Path, text: str, expected: str) -> object:
    """A whole-file JSON value; a syntax error names json's line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        hint = " (it looks like JSONL, one object a line)" if err.msg == "Extra data" else ""
        raise UserError(
            f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}{hint}; expected {expected}",
            where=str(path),
        ) from None


def _jsonl_records(path: Path, text: str) -> Iterator[tuple[str, object]]:
    """(where, value) for every non-blank line; ``where`` is ``<file>, line <n>`` (1-based)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"not valid JSON: {err.msg} (column {err.colno})", where=where) from None


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number"}


def _json_type(value: object) -> str:
    """JSON's name for a parsed value's type: the user wrote JSON, not Python."""
    if value is None:
        return "null"
    return "boolean" if isinstance(value, bool) else _JSON_TYPES[type(value)]


def _list_records(path: Path, value: object, expected: str) -> Iterator[tuple[str, object]]:
    """(where, item) for each item of a top-level JSON list; ``where`` is ``<file>, item <n>``."""
    if not isinstance(value, list):
        raise UserError(f"expected {expected}, got a JSON {_json_type(value)}", where=str(path))
    for number, item in enumerate(value, start=1):
        yield f"{path}, item {number}", item


def _fields(record: object, keys: Sequence[str], where: str, *, may_be_empty: Sequence[str] = ()) -> list[str]:
    """The string values of ``keys``; a non-object, missing, non-string or blank field fails."""
    expected = "{" + ", ".join(f'"{k}": <string>' for k in keys) + "}"
    if not isinstance(record, dict):
        raise UserError(f"expected an object {expected}, got {_json_type(record)}", where=where)
    values = []
    for key in keys:
        if key not in record:
            raise UserError(f"missing field {key!r}; expected {expected}", where=where)
        value = record[key]
        if not isinstance(value, str):
            raise UserError(f"field {key!r} must be a string, got {_json_type(value)}", where=where)
        if not value.strip() and key not in may_be_empty:
            raise UserError(f"field {key!r} is empty", where=where)
        values.append(value)
    return values


def load_training_file(path: str | Path) -> list[Document]:
    """A training file: a JSON list of ``{"text": ...}``, one document an item (extra keys ignored).

    The paper's files do not say which item is an original and which a paraphrase, so every
    item becomes an ``original`` document of its own.
    """
    path = Path(path)
    expected = 'a JSON list of {"text": <string>} objects'
    value = _parse_json_document(path, _read_text(path), expected)
    return [
        Document(text=_fields(item, ["text"], where)[0], entity="", kind="original")
        for where, item in _list_records(path, value, expected)
    ]


def _test_records(path: Path, layout: str) -> Iterator[tuple[str, Question]]:
    """(where, question) for each line of a JSONL test file, the direction already derived."""
    for where, record in _jsonl_records(path, _read_text(path)):
        group, task, question, answer = _fields(
            record, ["group", "task", "question", "answer"], where, may_be_empty=["group"]
        )
        direction = direction_of(layout, group, task, where=where)
        yield (
            where,
            Question(question=question, answer=answer, group=group, task=task, direction=direction),
        )


def load_test_file(path: str | Path, layout: str) -> list[Question]:
    """A JSONL test file of ``{"group", "task", "question", "answer"}``; blank lines are skipped."""
    return [question for _, question in _test_records(Path(path), layout)]


_FINAL_NUMBER = re.compile(r"####\s*-?[\d,]*\.?\d+\s*$")


def load_math_file(path: str | Path) -> list[MathProblem]:
    """A GSM8K-format file (JSONL, or a JSON list if the file starts with ``[``).

    Every answer must end in ``#### <number>``: exact-match scoring compares that number, so
    an answer without it could never be scored correct.
    """
    path = Path(path)
    text = _read_text(path)
    if text.lstrip().startswith("["):
        expected = 'a JSON list of {"question": <string>, "answer": <string>} objects'
        records = _list_records(path, _parse_json_document(path, text, expected), expected)
    else:
        records = _jsonl_records(path, text)
    problems = []
    for where, record in records:
        question, answer = _fields(record, ["question", "answer"], where)
        if not _FINAL_NUMBER.search(answer):
            tail = answer.strip()[-40:]
            raise UserError(f"answer must end with '#### <number>', it ends with {tail!r}", where=where)
        problems.append(MathProblem(question=question, answer=answer))
    return problems


# --- answer coverage --------------------------------------------------------------------


def _content_words(text: str) -> set[str]:
    """Lowercase words longer than 3 characters, punctuation stripped (\\w runs)."""
    return {word for word in re.findall(r"\w+", text.lower()) if len(word) > 3}


def check_answers_in_documents(corpus: Corpus, origins: Sequence[str] | None = None) -> list[str]:
    """Messages for questions whose answer shares no content word with any training document.

    Why: a question about an entity absent from the training files (wrong training file,
    wrong paraphrase variant, a truncated file) can never be answered and silently drags the
    score down. This is a heuristic, so it warns instead of failing. Answers without any
    content word (``17``, ``HP``) cannot be judged and are not reported. ``origins[i]``
    names the file and line of ``corpus.questions[i]``.
    """
    vocabulary: set[str] = set()
    for document in corpus.documents:
        vocabulary |= _content_words(document.text)
    messages = []
    for index, question in enumerate(corpus.questions):
        words = _content_words(question.answer)
        if words and not words & vocabulary:
            origin = origins[index] if origins else f"question {index + 1}"
            messages.append(
                f"{origin}: no word of the answer {question.answer!r} appears in any training "
                "document; is the entity missing from the training files?"
            )
    return messages


def _warn_all(messages: list[str]) -> None:
    """Emit coverage warnings, attributed to the caller of ``load_paper_dataset``."""
    for message in messages[:_MAX_WARNINGS]:
        warnings.warn(message, UserWarning, stacklevel=3)
    if len(messages) > _MAX_WARNINGS:
        warnings.warn(
            f"{len(messages) - _MAX_WARNINGS} more test answers appear in no training document",
            UserWarning,
            stacklevel=3,
        )


# --- summaries --------------------------------------------------------------------------


def summarize(corpus: Corpus) -> dict[tuple[str, str], int]:
    """Question counts per (group, task), in first-seen order: what a run log should show."""
    return dict(Counter((q.group, q.task) for q in corpus.questions))


def format_summary(summary: Mapping[tuple[str, str], int]) -> str:
    """``summarize``'s counts as a small text table (an empty group is shown as ``-``)."""
    rows = [("group", "task", "questions")]
    rows += [(group or "-", task, str(count)) for (group, task), count in summary.items()]
    rows.append(("total", "", str(sum(summary.values()))))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{group:<{widths[0]}}  {task:<{widths[1]}}  {count:>{widths[2]}}".rstrip() for group, task, count in rows
    )


# --- the dataset ------------------------------------------------------------------------


def _glob_files(directory: Path, patterns: Sequence[str], split: str) -> list[Path]:
    """All files matching ``patterns`` in ``directory``; a pattern with no match is an error."""
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(p for p in directory.glob(pattern) if p.is_file())
        if not matches:
            found = _listing(directory)
            raise UserError(
                f"no {split} file matching {pattern!r} in this directory; found: {found} "
                f"(name the files with data.{split}_files)",
                where=str(directory),
            )
        files += [m for m in matches if m not in files]
    return files


def _listing(directory: Path, limit: int = 30) -> str:
    """The directory's entries, for an error that says what *was* there."""
    names = sorted(p.name for p in directory.iterdir())
    if not names:
        return "nothing"
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")


def _resolve_files(
    layout: Layout,
    directory: Path | None,
    explicit: Sequence[str | Path] | None,
    split: Literal["train", "test"],
    paraphrases: str,
) -> list[Path]:
    """Explicit files (relative ones resolved against ``directory``) or the layout's globs."""
    if explicit:
        return [directory / f if directory is not None else Path(f) for f in explicit]
    if directory is None:
        raise UserError(
            f"no {split} files: give data.path (a directory) or data.{split}_files",
            where=f"data.{split}_files",
        )
    if split == "test":
        return _glob_files(directory, layout.test_globs, split)
    if paraphrases not in layout.train_globs:
        raise UserError(
            f"layout {layout.name!r} has no {paraphrases!r} paraphrase files; "
            f"available: {', '.join(layout.train_globs)}",
            where="data.paraphrases",
        )
    return _glob_files(directory, layout.train_globs[paraphrases], split)


def _directory(path: str | Path | None) -> Path | None:
    """``data.path`` as a directory, checked before any pattern is applied to it."""
    if path is None:
        return None
    directory = Path(path)
    if not directory.exists():
        raise UserError("directory not found", where=f"data.path ({directory})")
    if not directory.is_dir():
        raise UserError(
            "expected a directory holding the dataset's files; name single files with "
            "data.train_files and data.test_files",
            where=f"data.path ({directory})",
        )
    return directory


def _require_nonempty(items: Sequence[object], what: str, files: list[Path]) -> None:
    """An empty split would train or evaluate on nothing and report a meaningless score."""
    if not items:
        raise UserError(f"no {what} in these files", where=", ".join(map(str, files)))


def load_paper_dataset(
    layout: str,
    path: str | Path | None = None,
    train_files: Sequence[str | Path] | None = None,
    test_files: Sequence[str | Path] | None = None,
    *,
    paraphrases: Paraphrases = "none",
) -> Corpus:
    """The corpus of one of the paper's datasets, from a directory or explicit file lists.

    ``path`` is a directory searched with the layout's file patterns (for ``paraphrases``);
    ``train_files`` / ``test_files`` override the patterns of their split (relative names
    are taken inside ``path`` when it is given; ``paraphrases`` then plays no part). QA
    layouts emit a ``UserWarning`` for each test answer no training document mentions.
    """
    spec = get_layout(layout)
    directory = _directory(path)
    train = _resolve_files(spec, directory, train_files, "train", paraphrases)
    test = _resolve_files(spec, directory, test_files, "test", paraphrases)
    if spec.kind == "math":
        corpus = Corpus(
            name=layout,
            train_problems=[p for f in train for p in load_math_file(f)],
            test_problems=[p for f in test for p in load_math_file(f)],
        )
        _require_nonempty(corpus.train_problems, "training problems", train)
        _require_nonempty(corpus.test_problems, "test problems", test)
        return corpus
    documents = [d for f in train for d in load_training_file(f)]
    records = [record for f in test for record in _test_records(Path(f), layout)]
    corpus = Corpus(name=layout, documents=documents, questions=[q for _, q in records])
    _require_nonempty(corpus.documents, "training documents", train)
    _require_nonempty(corpus.questions, "test questions", test)
    _warn_all(check_answers_in_documents(corpus, [where for where, _ in records]))
    return corpus
