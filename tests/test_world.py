"""The synthetic world: deterministic, and new entities' questions never reach training."""

from __future__ import annotations

from platform.data.worlds.name_description import TEST_TEMPLATES, TRAIN_TEMPLATES, build_world


def test_same_seed_same_world_different_seed_different_world():
    a, b, c = build_world(1, 30, 10, 0.5), build_world(1, 30, 10, 0.5), build_world(2, 30, 10, 0.5)
    assert a.new == b.new and a.known == b.known
    assert a.new != c.new


def test_entities_are_unique_and_split():
    world = build_world(0, 150, 48, 2 / 3)
    people = world.known + world.new
    assert len({p.name for p in people}) == len(people)
    assert len({p.description for p in people}) == len(people)
    assert not set(world.known) & set(world.new)
    assert len(world.known_with_qa) == 100


def test_test_templates_are_never_trained():
    for task in TEST_TEMPLATES:
        assert not set(TEST_TEMPLATES[task]) & set(TRAIN_TEMPLATES[task])


def test_new_entities_questions_never_appear_in_any_training_text():
    world = build_world(0, 60, 20, 2 / 3)
    training_texts = [d.text for d in world.documents(world.known, "both")]
    training_texts += [q.question for q in world.base_qa()] + [q.answer for q in world.base_qa()]
    for paraphrases in ("none", "same", "reordered", "both"):
        training_texts += [d.text for d in world.injection_corpus(paraphrases).documents]
    corpus = world.injection_corpus("both")
    new_names = {p.name for p in world.new}
    assert {q.entity for q in corpus.questions} == new_names
    joined = "\n".join(training_texts)
    for question in corpus.questions:
        assert question.question not in joined
    # the base stage never mentions a new entity at all
    base_texts = "\n".join(d.text for d in world.documents(world.known, "both")) + "\n".join(
        q.question for q in world.base_qa()
    )
    assert not any(name in base_texts for name in new_names)


def test_directions_follow_the_statement_order():
    world = build_world(0, 10, 10, 0.5)
    for q in world.injection_corpus().questions:
        forward_task = "N2D" if q.group == "NameIsDescription" else "D2N"
        assert (q.direction == "forward") == (q.task == forward_task)
