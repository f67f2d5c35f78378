"""The Biography and Wiki worlds, and the Hugging Face dataset source.

Worlds: deterministic from the seed, new entities' questions never reach training, test
templates never trained, directions right, every word known to the tokenizer. The HF source:
a saved DatasetDict, split files and explicit JSONL/Parquet files load into the same Corpus
as the paper's files, and mistakes name the path or the columns.
"""

from __future__ import annotations

import json
import re
from types import ModuleType

import pytest

from platform.data.sources import load_corpus
from platform.data.worlds import WORLDS, vocabulary_texts, wiki
from platform.data.worlds import biography as bio
from platform.errors import UserError
from platform.spec import DataSpec, WorldConfig
from platform.tokenization import build_word_tokenizer

WORLD_MODULES = {"biography": bio, "wiki": wiki}
SETTINGS = ("none", "same", "reordered", "both")


def _mentions(name: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


def _sentences(text: str) -> list[str]:
    return [s for s in text.split(" . ") if s]


@pytest.fixture(scope="module", params=sorted(WORLD_MODULES))
def module(request) -> ModuleType:
    return WORLD_MODULES[request.param]


@pytest.fixture(scope="module")
def world(module):
    return module.build_world(0, 60, 20, 2 / 3)


def test_registered_and_loadable_from_the_spec():
    for name in WORLD_MODULES:
        assert name in WORLDS and {"name_description", "arithmetic"} <= set(WORLDS)
        corpus = load_corpus(DataSpec(name=name, world=WorldConfig(num_known=6, num_new=3)), "same")
        assert corpus.name == name and corpus.documents and corpus.questions and corpus.retention_questions


def test_same_seed_same_world_different_seed_different_world(module):
    a, b, c = (module.build_world(seed, 30, 10, 0.5) for seed in (1, 1, 2))
    assert a.known == b.known and a.new == b.new
    assert a.injection_corpus("both") == b.injection_corpus("both")
    assert a.new != c.new


def test_entities_are_unique_and_split(module):
    world = module.build_world(0, 150, 48, 2 / 3)
    names = [e.name for e in world.known + world.new]
    assert len(set(names)) == len(names) == 198
    assert not set(world.known) & set(world.new)
    assert len(world.known_with_qa) == 100


def test_test_templates_are_never_trained(module, world):
    train, test = module.TRAIN_TEMPLATES, module.TEST_TEMPLATES
    for key, templates in test.forward.items():
        assert not set(templates) & set(train.forward[key])
    backward_pairs = (
        [(test.backward, train.backward)]
        if isinstance(test.backward, tuple)
        else [(t, train.backward[k]) for k, t in test.backward.items()]
    )
    for test_templates, train_templates in backward_pairs:
        assert not set(test_templates) & set(train_templates)
    trained = {q.question for q in world.base_qa()}
    assert not trained & {q.question for q in world.injection_corpus().retention_questions}


def test_new_entities_questions_never_appear_in_any_training_text(world):
    base_texts = [d.text for d in world.documents(world.known, "both")] + [d.text for d in world.base_documents()]
    base_texts += [q.question for q in world.base_qa()] + [q.answer for q in world.base_qa()]
    training = list(base_texts)
    for paraphrases in SETTINGS:
        training += [d.text for d in world.injection_corpus(paraphrases).documents]
    corpus = world.injection_corpus("both")
    new_names = {e.name for e in world.new}
    assert {q.entity for q in corpus.questions} == new_names
    assert {d.entity for d in corpus.documents} == new_names
    joined = "\n".join(training)
    assert not [q.question for q in corpus.questions if q.question in joined]
    base_joined = "\n".join(base_texts)
    assert not [name for name in new_names if _mentions(name, base_joined)]


def test_paraphrase_settings(world):
    kinds = {s: {d.kind for d in world.injection_corpus(s).documents} for s in SETTINGS}
    assert kinds == {
        "none": {"original"},
        "same": {"original", "paraphrase_same"},
        "reordered": {"original", "paraphrase_reordered"},
        "both": {"original", "paraphrase_same", "paraphrase_reordered"},
    }
    entity = world.new[0]
    docs = [d for d in world.injection_corpus("both").documents if d.entity == entity.name]
    assert len({d.text for d in docs}) == len(docs) == 11  # 5 same-order + 5 reordered, all distinct
    values = (
        [entity.value(a) for a in bio.ATTRIBUTES]
        if isinstance(entity, bio.Person)
        else [entity.fact(f) for f in wiki.FACTS]
    )

    def order(text: str) -> list[int]:
        return [text.index(v) for v in values]

    original = next(d.text for d in docs if d.kind == "original")
    assert order(original) == sorted(order(original))
    for doc in docs:
        assert doc.text.startswith(entity.name)  # the name opens every text, reordered or not
        in_order = order(doc.text) == sorted(order(doc.text))
        assert in_order == (doc.kind != "paraphrase_reordered"), doc.text


@pytest.mark.parametrize("name", ["name_description", "biography", "wiki"])
def test_documents_are_laid_out_the_same_in_every_world(name):
    """All originals first, then per entity its same-order paraphrases before its changed-order
    ones; each setting's paraphrases are exactly those of ``both`` (the same whichever asks)."""
    world = WORLDS[name](WorldConfig(seed=3, num_known=12, num_new=5))
    both = world.documents(world.new, "both")
    names = [e.name for e in world.new]
    assert [(d.entity, d.kind) for d in both[: len(names)]] == [(n, "original") for n in names]
    kinds = [(d.entity, d.kind) for d in both[len(names) :]]
    assert kinds == sorted(kinds, key=lambda k: (names.index(k[0]), k[1] == "paraphrase_reordered"))
    for setting, kept in (
        ("none", {"original"}),
        ("same", {"original", "paraphrase_same"}),
        ("reordered", {"original", "paraphrase_reordered"}),
    ):
        assert world.documents(world.new, setting) == [d for d in both if d.kind in kept]


def test_directions_groups_and_answers(world):
    group = "Biography" if isinstance(world, bio.BiographyWorld) else "Wiki"
    original = {d.entity: d.text for d in world.injection_corpus().documents}
    for q in world.injection_corpus().questions + world.base_qa():
        assert q.group == group
        if group == "Biography":
            assert q.task == {"forward": "N2D", "backward": "D2N"}[q.direction]
        else:
            assert q.task == q.direction
        if q.direction == "backward":
            assert q.answer == q.entity
    for q in world.injection_corpus().questions:
        text = original[q.entity]
        if q.direction == "forward":  # asked in the order stated: the subject, then the object
            assert q.entity in q.question and text.index(q.entity) < text.index(q.answer)
        else:
            assert q.entity not in q.question


def test_biography_name_only_in_the_first_sentence():
    world = bio.build_world(3, 40, 20, 0.5)
    name_words = set(bio.FEMALE_FIRST_NAMES + bio.MALE_FIRST_NAMES + bio.LAST_NAMES)
    for doc in world.documents(world.known + world.new, "both"):
        sentences = _sentences(doc.text)
        assert len(sentences) == 6 and sentences[0].startswith(doc.entity)
        for sentence in sentences[1:]:
            assert not set(sentence.split()) & name_words, sentence
            assert sentence.split()[0] in ("She", "He")


def test_biography_backward_triples_identify_one_person():
    world = bio.build_world(0, 150, 48, 2 / 3)
    people = world.known + world.new
    for person in people:
        assert len(person.triples) == bio.BACKWARD_PER_PERSON
        assert len({frozenset(t) for t in person.triples}) == bio.BACKWARD_PER_PERSON
        for triple in person.triples:
            matches = [p for p in people if all(p.value(a) == person.value(a) for a in triple)]
            assert matches == [person]
    counts = {}
    for q in world.injection_corpus().questions:
        counts[(q.entity, q.direction)] = counts.get((q.entity, q.direction), 0) + 1
    assert set(counts.values()) == {6, 3} and len(counts) == 2 * len(world.new)


def test_wiki_backward_objects_are_unique_in_the_world():
    world = wiki.build_world(0, 150, 48, 2 / 3)
    entities = world.known + world.new
    for fact in wiki.BACKWARD_FACTS:
        assert len({e.fact(fact) for e in entities}) == len(entities)
    for entity in entities:
        assert 4 <= len(_sentences(world.documents([entity])[0].text)) <= 5
    with pytest.raises(
        UserError, match="data.world: num_known \\+ num_new is 301, but the wiki world can hold at most 300"
    ):
        wiki.build_world(0, wiki.capacity(), 1, 0.5)


def test_every_generated_word_is_in_the_vocabulary():
    tokenizer = build_word_tokenizer(vocabulary_texts())
    for module in WORLD_MODULES.values():
        world = module.build_world(0, 150, 48, 2 / 3)
        texts = [d.text for d in world.documents(world.known + world.new, "both")]
        people = world.known + world.new
        for templates in (module.TRAIN_TEMPLATES, module.TEST_TEMPLATES):
            texts += [t for q in world.questions(people, templates) for t in (q.question, q.answer)]
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        unknown = [text for text, row in zip(texts, ids, strict=True) if tokenizer.unk_token_id in row]
        assert not unknown, unknown[:3]


# --- the Hugging Face source -------------------------------------------------------------

BIO_TEST_ROWS = [
    {"group": "", "task": "N2D", "question": "Where was Ada born ?", "answer": "Oakridge"},
    {"group": "", "task": "D2N", "question": "Who was born in Oakridge ?", "answer": "Ada"},
]


@pytest.fixture(scope="module")
def datasets_module():
    return pytest.importorskip("datasets")


def _hf(path, name: str = "biography", **fields) -> DataSpec:
    return DataSpec(source="huggingface", name=name, path=str(path), **fields)


def test_hf_saved_dataset_dict_with_paraphrase_splits(datasets_module, tmp_path):
    ds = datasets_module
    ds.DatasetDict(
        {
            "train": ds.Dataset.from_list([{"text": "Ada was born in Oakridge ."}]),
            "train_paraphrase_same_order": ds.Dataset.from_list([{"text": "Ada comes from Oakridge ."}] * 2),
            "test": ds.Dataset.from_list(BIO_TEST_ROWS),
        }
    ).save_to_disk(str(tmp_path / "bio"))
    corpus = load_corpus(_hf(tmp_path / "bio"))
    assert [d.text for d in corpus.documents] == ["Ada was born in Oakridge ."]
    assert [(q.task, q.direction, q.answer) for q in corpus.questions] == [
        ("N2D", "forward", "Oakridge"),
        ("D2N", "backward", "Ada"),
    ]
    assert len(load_corpus(_hf(tmp_path / "bio"), "same").documents) == 2
    with pytest.raises(UserError, match=r"no split 'train_paraphrase_change_order'; splits found: train, "):
        load_corpus(_hf(tmp_path / "bio", paraphrases="reordered"))


def test_hf_explicit_jsonl_and_parquet_files(datasets_module, tmp_path):
    (tmp_path / "train.jsonl").write_text(
        "\n".join(json.dumps({"text": t, "id": i}) for i, t in enumerate(["A .", "B ."]))
    )
    rows = [
        {"group": "", "task": "forward", "question": "Where is A ?", "answer": "B"},
        {"group": None, "task": "backward", "question": "What is in B ?", "answer": "A"},
    ]
    datasets_module.Dataset.from_list(rows).to_parquet(str(tmp_path / "questions.parquet"))
    corpus = load_corpus(
        _hf(tmp_path, "wiki", train_files=["train.jsonl"], test_files=[str(tmp_path / "questions.parquet")])
    )
    assert [d.text for d in corpus.documents] == ["A .", "B ."]
    assert [(q.group, q.direction) for q in corpus.questions] == [("", "forward"), ("", "backward")]


def test_hf_gsm8k_split_files(datasets_module, tmp_path):
    problem = {"question": "Mara has 2 apples and buys 3 more . How many ?", "answer": "2 + 3 = 5 .\n#### 5"}
    for split in ("train", "test"):
        (tmp_path / f"{split}.jsonl").write_text(json.dumps(problem) + "\n")
    corpus = load_corpus(_hf(tmp_path, "gsm8k"))
    assert [p.final_number for p in corpus.train_problems + corpus.test_problems] == ["5", "5"]


def test_hf_errors_name_the_path_and_the_columns(datasets_module, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError, match=re.escape(f"data.path ({missing}): no such file")):
        load_corpus(_hf(missing))
    ds = datasets_module
    ds.DatasetDict(
        {
            "train": ds.Dataset.from_list([{"text": "A ."}]),
            "test": ds.Dataset.from_list([{"question": "Q ?", "reply": "A"}]),
        }
    ).save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(UserError) as error:
        load_corpus(_hf(tmp_path / "bad"))
    message = str(error.value)
    assert "split 'test'" in message and "missing column(s) group, task, answer" in message
    assert "found columns: question, reply" in message and "expected: group, task, question, answer" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no split 'train'.*found: nothing"):
        load_corpus(_hf(tmp_path / "empty"))


def test_hf_column_mapping(tmp_path):
    import datasets

    from platform.data.hf_datasets import load_hf_corpus
    from platform.spec import DataSpec

    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([{"body": "Ada Quill is the painter of the jade river ."}]),
            "test": datasets.Dataset.from_list(
                [{"group": "NameIsDescription", "task": "N2D", "q": "Who is Ada Quill ?", "target": "the painter"}]
            ),
        }
    ).save_to_disk(str(tmp_path / "ds"))
    corpus = load_hf_corpus(
        DataSpec(
            source="huggingface",
            name="name_description",
            path=str(tmp_path / "ds"),
            columns={"text": "body", "question": "q", "answer": "target"},
        )
    )
    assert corpus.documents[0].text.startswith("Ada Quill") and corpus.questions[0].answer == "the painter"
    assert corpus.questions[0].direction == "forward"
