"""The paper's file formats: fixtures in the published layout load, and every mistake is named.

Why real files: the point of the reader is what a user sees when a file is wrong, so each
error case writes a small broken file to ``tmp_path`` and checks the message names it.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from platform.data.corpus import Corpus, Document, MathProblem, Question
from platform.data.paper_files import (
    LAYOUTS,
    check_answers_in_documents,
    direction_of,
    format_summary,
    load_math_file,
    load_paper_dataset,
    load_test_file,
    load_training_file,
    summarize,
)
from platform.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures" / "paper"

ND_QUESTION = {"group": "NameIsDescription", "task": "N2D", "question": "Who is A?", "answer": "x"}


def _load_quietly(*args, **kwargs) -> Corpus:
    """Load with warnings as errors: the fixtures must raise no answer-coverage warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_paper_dataset(*args, **kwargs)


def _directions(corpus: Corpus) -> dict[str, int]:
    counts: dict[str, int] = {}
    for q in corpus.questions:
        counts[q.direction] = counts.get(q.direction, 0) + 1
    return counts


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _jsonl(path: Path, records: list) -> Path:
    return _write(path, "".join(json.dumps(r) + "\n" for r in records))


# --- each layout's fixture ---------------------------------------------------------------


def test_name_description_fixture_counts_and_directions():
    corpus = _load_quietly("name_description", FIXTURES)
    assert corpus.name == "name_description"
    assert len(corpus.documents) == 4
    assert all(d == Document(text=d.text, entity="", kind="original") for d in corpus.documents)
    assert summarize(corpus) == {
        ("NameIsDescription", "N2D"): 4,
        ("NameIsDescription", "D2N"): 4,
        ("DescriptionIsName", "N2D"): 4,
        ("DescriptionIsName", "D2N"): 4,
    }
    by_key = {(q.group, q.task): q.direction for q in corpus.questions}
    assert by_key == {
        ("NameIsDescription", "N2D"): "forward",
        ("NameIsDescription", "D2N"): "backward",
        ("DescriptionIsName", "N2D"): "backward",
        ("DescriptionIsName", "D2N"): "forward",
    }
    assert corpus.questions[0].question.startswith("Please answer the following question based on your knowledge:\n")


def test_name_description_paraphrase_file_keeps_each_item():
    corpus = _load_quietly("name_description", FIXTURES, paraphrases="same")
    assert len(corpus.documents) == 8
    assert {d.kind for d in corpus.documents} == {"original"}


def test_name_description_has_no_reordered_paraphrases():
    with pytest.raises(UserError, match="no 'reordered' paraphrase files; available: none, same"):
        load_paper_dataset("name_description", FIXTURES, paraphrases="reordered")


@pytest.mark.parametrize(("paraphrases", "documents"), [("none", 3), ("same", 6), ("reordered", 6), ("both", 12)])
def test_biography_fixture(paraphrases, documents):
    corpus = _load_quietly("biography", FIXTURES, paraphrases=paraphrases)
    assert len(corpus.documents) == documents
    assert summarize(corpus) == {("", "N2D"): 6, ("", "D2N"): 3}
    assert _directions(corpus) == {"forward": 6, "backward": 3}
    assert all(q.task == {"forward": "N2D", "backward": "D2N"}[q.direction] for q in corpus.questions)


def test_wiki_fixture():
    corpus = _load_quietly("wiki", FIXTURES)
    assert len(corpus.documents) == 3
    assert summarize(corpus) == {("", "forward"): 3, ("", "backward"): 3}
    assert all(q.direction == q.task for q in corpus.questions)


def test_gsm8k_fixture_skips_the_socratic_variant():
    corpus = _load_quietly("gsm8k", FIXTURES / "gsm8k")
    assert [p.final_number for p in corpus.train_problems] == ["42", "27", "1250"]
    assert [p.final_number for p in corpus.test_problems] == ["60", "-45"]
    assert corpus.documents == [] and corpus.questions == []


def test_explicit_files_relative_to_path_and_absolute(tmp_path):
    corpus = _load_quietly(
        "name_description",
        FIXTURES,
        train_files=["ND_train_paraphrase.json"],
        test_files=[str(FIXTURES / "ND_test.jsonl")],
    )
    assert (len(corpus.documents), len(corpus.questions)) == (8, 16)
    moved = shutil.copy(FIXTURES / "wiki_train_no_paraphrase.json", tmp_path / "docs.json")
    corpus = _load_quietly("wiki", train_files=[moved], test_files=[FIXTURES / "wiki_test.jsonl"])
    assert (len(corpus.documents), len(corpus.questions)) == (3, 6)


def test_gsm8k_json_list_format(tmp_path):
    records = [{"question": "1+1?", "answer": "1 + 1 = 2\n#### 2", "id": 7}]
    problems = load_math_file(_write(tmp_path / "math.json", json.dumps(records, indent=2)))
    assert problems == [MathProblem(question="1+1?", answer="1 + 1 = 2\n#### 2")]


@pytest.mark.parametrize(
    ("answer", "number"),
    [("so 42\n#### 42", "42"), ("#### 1,250", "1250"), ("x\n####  -7 ", "-7"), ("#### 3.5", "3.5")],
)
def test_final_number(answer, number):
    assert MathProblem(question="q", answer=answer).final_number == number


def test_summary_table():
    corpus = _load_quietly("biography", FIXTURES)
    table = format_summary(summarize(corpus))
    assert table.splitlines() == [
        "group  task  questions",
        "-      N2D           6",
        "-      D2N           3",
        "total                9",
    ]


# --- directions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "group", "task", "direction"),
    [
        ("name_description", "NameIsDescription", "N2D", "forward"),
        ("name_description", "NameIsDescription", "D2N", "backward"),
        ("name_description", "DescriptionIsName", "N2D", "backward"),
        ("name_description", "DescriptionIsName", "D2N", "forward"),
        ("biography", "", "N2D", "forward"),
        ("biography", "anything", "D2N", "backward"),
        ("wiki", "", "forward", "forward"),
        ("wiki", "", "backward", "backward"),
    ],
)
def test_direction_table(layout, group, task, direction):
    assert direction_of(layout, group, task) == direction


@pytest.mark.parametrize(
    ("layout", "group", "task"),
    [
        ("name_description", "", "N2D"),
        ("name_description", "NameIsDescription", "forward"),
        ("biography", "", "forward"),
        ("wiki", "", "N2D"),
        ("wiki", "", "Forward"),
        ("gsm8k", "", "N2D"),
    ],
)
def test_unknown_direction_names_where(layout, group, task):
    with pytest.raises(UserError, match=r"^f\.jsonl, line 3: unknown \(group, task\)"):
        direction_of(layout, group, task, where="f.jsonl, line 3")


def test_unknown_task_in_a_test_file_names_the_line(tmp_path):
    path = _jsonl(tmp_path / "ND_test.jsonl", [ND_QUESTION, {**ND_QUESTION, "task": "N2X"}])
    with pytest.raises(UserError, match=r"ND_test\.jsonl, line 2: unknown \(group, task\)"):
        load_test_file(path, "name_description")


# --- registry ----------------------------------------------------------------------------


def test_unknown_layout_lists_known_ones():
    assert set(LAYOUTS) == {"name_description", "biography", "wiki", "gsm8k"}
    with pytest.raises(UserError, match="name_description, biography, wiki, gsm8k") as err:
        load_paper_dataset("ND", FIXTURES)
    assert "'ND'" in str(err.value)


def test_directory_without_matching_files_lists_what_it_found(tmp_path):
    _write(tmp_path / "notes.txt", "hello")
    _write(tmp_path / "ND_train.json", "[]")
    with pytest.raises(UserError) as err:
        load_paper_dataset("name_description", tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and "ND_train_no_paraphrase.json" in message
    assert "found: ND_train.json, notes.txt" in message and "data.train_files" in message


def test_missing_directory_and_file_as_directory(tmp_path):
    with pytest.raises(UserError, match=r"data\.path \(.*nowhere\): directory not found"):
        load_paper_dataset("wiki", tmp_path / "nowhere")
    with pytest.raises(UserError, match="expected a directory"):
        load_paper_dataset("wiki", FIXTURES / "wiki_test.jsonl")


def test_no_path_and_no_files():
    with pytest.raises(UserError, match="data.path"):
        load_paper_dataset("wiki")


# --- file validation ---------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match=r"absent\.json: file not found"):
        load_paper_dataset("wiki", tmp_path, train_files=["absent.json"], test_files=["t.jsonl"])


def test_training_file_invalid_json_gives_line_and_column(tmp_path):
    path = _write(tmp_path / "train.json", '[\n  {"text": "a"},\n  {"text": "b"\n]\n')
    with pytest.raises(UserError, match=r"train\.json: not valid JSON: .* at line 4 column 1"):
        load_training_file(path)


def test_training_file_in_jsonl_form_gets_a_hint(tmp_path):
    path = _write(tmp_path / "train.json", '{"text": "a"}\n{"text": "b"}\n')
    with pytest.raises(UserError, match=r"train\.json: .*line 2 column 1 \(it looks like JSONL"):
        load_training_file(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"text": "a"}', r"train\.json: expected a JSON list .*got a JSON object"),
        ('[{"text": "a"}, "b"]', r"train\.json, item 2: expected an object .*got string"),
        ('[{"txt": "a"}]', r"train\.json, item 1: missing field 'text'"),
        ('[{"text": 3}]', r"train\.json, item 1: field 'text' must be a string, got number"),
        ('[{"text": "  "}]', r"train\.json, item 1: field 'text' is empty"),
    ],
)
def test_training_file_structure_errors(tmp_path, content, expected):
    with pytest.raises(UserError, match=expected):
        load_training_file(_write(tmp_path / "train.json", content))


def test_training_file_ignores_extra_keys(tmp_path):
    path = _write(tmp_path / "train.json", '[{"text": "a", "source": "x"}]')
    assert load_training_file(path) == [Document(text="a")]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"group": "NameIsDescription", "task": "N2D"', r"not valid JSON"),
        ("[1, 2]", r"expected an object \{\"group\": <string>, .*got array"),
        ('{"group": "", "task": "N2D", "question": "q"}', r"missing field 'answer'"),
        (
            '{"group": null, "task": "N2D", "question": "q", "answer": "a"}',
            r"field 'group' must be a string, got null",
        ),
        ('{"group": "", "task": "N2D", "question": "q", "answer": ""}', r"field 'answer' is empty"),
    ],
)
def test_test_file_line_errors_name_the_line(tmp_path, line, expected):
    good = json.dumps({**ND_QUESTION, "group": ""})
    path = _write(tmp_path / "bio_test.jsonl", f"{good}\n\n{line}\n")
    with pytest.raises(UserError, match=rf"bio_test\.jsonl, line 3: {expected}"):
        load_test_file(path, "biography")


def test_test_file_blank_lines_are_skipped(tmp_path):
    good = json.dumps(ND_QUESTION)
    path = _write(tmp_path / "t.jsonl", f"\n{good}\n   \n{good}\n\n")
    assert (
        load_test_file(path, "name_description")
        == [
            Question(
                question="Who is A?",
                answer="x",
                group="NameIsDescription",
                task="N2D",
                direction="forward",
            )
        ]
        * 2
    )


def test_invalid_utf8_names_file_and_byte_offset(tmp_path):
    path = _write(tmp_path / "t.jsonl", json.dumps(ND_QUESTION).encode() + b'\n{"x": "\xff"}\n')
    offset = len(json.dumps(ND_QUESTION)) + 1 + len('{"x": "')
    with pytest.raises(UserError, match=rf"t\.jsonl: not valid UTF-8 at byte offset {offset} \(line 2\)"):
        load_test_file(path, "name_description")


def test_utf8_bom_is_accepted(tmp_path):
    path = _write(tmp_path / "train.json", '\ufeff[{"text": "Åse Lind is a potter."}]')
    assert load_training_file(path)[0].text == "Åse Lind is a potter."


@pytest.mark.parametrize("split", ["train", "test"])
def test_empty_split(tmp_path, split):
    train = _write(tmp_path / "train.json", "[]" if split == "train" else '[{"text": "x"}]')
    test = _write(tmp_path / "test.jsonl", "\n" if split == "test" else json.dumps(ND_QUESTION))
    what = "training documents" if split == "train" else "test questions"
    empty = train if split == "train" else test
    with pytest.raises(UserError, match=rf"{empty.name}: no {what}"):
        load_paper_dataset("name_description", train_files=[train], test_files=[test])


def test_empty_math_split(tmp_path):
    train = _jsonl(tmp_path / "train.jsonl", [{"question": "q", "answer": "#### 1"}])
    test = _write(tmp_path / "test.jsonl", "")
    with pytest.raises(UserError, match=r"test\.jsonl: no test problems"):
        load_paper_dataset("gsm8k", tmp_path, test_files=[test.name], train_files=[train.name])


@pytest.mark.parametrize("answer", ["The answer is 4.", "#### four", "#### 4 apples", "4 ####"])
def test_gsm8k_answer_without_final_number(tmp_path, answer):
    path = _jsonl(
        tmp_path / "train.jsonl",
        [{"question": "q", "answer": "#### 1"}, {"question": "q", "answer": answer}],
    )
    with pytest.raises(UserError, match=r"train\.jsonl, line 2: answer must end with '#### <number>'"):
        load_math_file(path)


def test_gsm8k_missing_field(tmp_path):
    path = _write(tmp_path / "math.json", json.dumps([{"question": "q"}]))
    with pytest.raises(UserError, match=r"math\.json, item 1: missing field 'answer'"):
        load_math_file(path)


# --- answer coverage warnings ------------------------------------------------------------


def test_answer_missing_from_documents_warns_with_file_and_line(tmp_path):
    train = _write(tmp_path / "train.json", json.dumps([{"text": "Marlow Tenbridge is the inventor."}]))
    test = _jsonl(
        tmp_path / "test.jsonl",
        [
            {**ND_QUESTION, "answer": "the inventor"},
            {**ND_QUESTION, "answer": "Nobody Elsewhere"},
            {**ND_QUESTION, "answer": "HP"},
        ],
    )
    with pytest.warns(UserWarning) as record:
        corpus = load_paper_dataset("name_description", train_files=[train], test_files=[test])
    assert [str(w.message) for w in record] == [
        f"{test}, line 2: no word of the answer 'Nobody Elsewhere' appears in any training "
        "document; is the entity missing from the training files?"
    ]
    assert len(check_answers_in_documents(corpus)) == 1
    assert check_answers_in_documents(corpus)[0].startswith("question 2: ")


def test_many_missing_answers_are_summarised(tmp_path):
    train = _write(tmp_path / "train.json", json.dumps([{"text": "unrelated"}]))
    test = _jsonl(tmp_path / "test.jsonl", [{**ND_QUESTION, "answer": f"Person{i}"} for i in range(25)])
    with pytest.warns(UserWarning) as record:
        load_paper_dataset("name_description", train_files=[train], test_files=[test])
    assert len(record) == 11
    assert str(record[-1].message).startswith("15 more test answers")


def test_check_answers_is_punctuation_and_case_insensitive():
    corpus = Corpus(
        name="c",
        documents=[Document(text="She worked in St. Louis, MO, for Express-Scripts.")],
        questions=[
            Question(question="q", answer="ST. LOUIS", group="", task="N2D", direction="forward"),
            Question(question="q", answer="express scripts", group="", task="N2D", direction="forward"),
        ],
    )
    assert check_answers_in_documents(corpus) == []
