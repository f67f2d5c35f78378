"""What makes the embedded default show the paper's effect, pinned so it cannot break silently.

The base stage reads the known entities in many phrasings (what a pretrained model brings),
never a new entity; validation entities are new entities whose questions only select epochs;
the bidirectional base attends both ways when the diffusion sampler calls it.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from objectives.base import Objective, Sample
from objectives.masked_diffusion import MaskedDiffusion
from platform.base_model import base_key, ensure_base_model
from platform.base_training import length_batches
from platform.data.sources import build_world
from platform.models import load_pretrained, model_inputs
from platform.spec import ExperimentSpec
from platform.trial import split_validation
from tests.helpers import tiny_context

CAUSAL, BIDIRECTIONAL = Objective.base_stage(), MaskedDiffusion.base_stage()

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64}


def spec_with(**base_pretrain) -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {
            "model": {"tiny": TINY, "base_pretrain": {"epochs": 2, "bidirectional_epochs": 2, **base_pretrain}},
            "data": {"world": {"num_known": 8, "num_new": 4}},
        }
    )


def test_the_base_stage_reads_known_entities_in_both_orders_and_never_a_new_one():
    world = build_world(spec_with().data)
    documents = world.base_documents(spec_with().model.base_pretrain.paraphrases)
    assert spec_with().model.base_pretrain.paraphrases == "both"
    assert len(documents) == 9 * len(world.known)  # the original, 4 same-order, 4 reordered
    assert {d.entity for d in documents} == {p.name for p in world.known}
    joined = "\n".join(d.text for d in documents)
    assert not any(p.name in joined or p.description in joined for p in world.new)
    # both orders of a known fact are read: "N is D" and "D is N"
    person = world.known[0]
    assert f"{person.name} is {person.description} ." in joined and f"{person.description} is {person.name} ." in joined


def test_the_base_models_cache_key_follows_its_paraphrase_setting():
    keys = {base_key(spec_with(paraphrases=setting), CAUSAL) for setting in ("none", "same", "both")}
    assert len(keys) == 3
    assert base_key(spec_with(), CAUSAL) == base_key(spec_with(paraphrases="both"), CAUSAL)


def test_each_family_is_keyed_by_its_own_recipe():
    """The bidirectional family trains longer at a lower rate; changing it leaves the causal
    base model (and its cache) alone, and the other way round."""
    spec = ExperimentSpec.model_validate({})
    assert spec.model.base_pretrain.recipe(bidirectional=False) == (30, 2e-3)
    assert spec.model.base_pretrain.recipe(bidirectional=True) == (100, 5e-4)
    longer = spec_with(bidirectional_epochs=7)
    assert base_key(longer, CAUSAL) == base_key(spec_with(), CAUSAL)
    assert base_key(longer, BIDIRECTIONAL) != base_key(spec_with(), BIDIRECTIONAL)
    assert base_key(spec_with(epochs=7), BIDIRECTIONAL) == base_key(spec_with(), BIDIRECTIONAL)


def test_each_base_stage_reads_the_world_of_the_trials_that_fine_tune_from_it():
    """paper_table.yaml's top-level world is NameDescription; its math cells name the arithmetic
    world: the math stage is built (and keyed) from the arithmetic world's known problems."""
    from platform.plan import base_stages, validate_trials
    from platform.spec import load_spec

    source = "search_spaces/paper_table.yaml"
    _, refs, cell_specs = validate_trials(load_spec(source), source)
    stages = base_stages(cell_specs, refs, source)
    assert sorted(stages) == ["bidirectional", "causal", "math"]
    assert {name: planned.spec.data.name for name, planned in stages.items()} == {
        "bidirectional": "name_description",
        "causal": "name_description",
        "math": "arithmetic",
    }
    math = stages["math"]
    assert base_key(math.spec, math.stage) != base_key(
        math.spec.model_copy(update={"data": stages["causal"].spec.data}), math.stage
    )


def test_the_probe_line_says_what_was_checked():
    from platform.base_training import probe_line

    assert probe_line({"forward_acc": 0.5, "backward_acc": 0.25, "mean_acc": 0.375}) == (
        "known entities whose QA was never trained: forward 0.50, backward 0.25"
    )
    assert probe_line({"forward_acc": 0.125, "mean_acc": 0.125}) == "known problems never trained: exact match 0.12"


def test_the_build_says_how_long_is_left_after_its_first_epoch_then_every_half_minute(monkeypatch):
    from platform import base_training

    clock = iter([0.0, 11.0, 22.0, 33.0, 44.0, 300.0])  # start, then the end of epochs 1-5
    monkeypatch.setattr(base_training.time, "time", lambda: next(clock))
    lines: list[str] = []
    progress = base_training.BuildProgress(5, lines.append, every_s=30)
    for epoch in range(1, 6):
        progress.epoch_done(epoch, 0.5)
    # epoch 1: the pace is known; 2 and 3 come within 30 s of the last line; 4 is 33 s after; 5 ends
    assert lines == [
        "[base] epoch 1/5 loss 0.5000 elapsed 11s about 44s left",
        "[base] epoch 4/5 loss 0.5000 elapsed 44s about 11s left",
        "[base] epoch 5/5 loss 0.5000 elapsed 5m00s done",
    ]


def test_length_batches_cover_every_sample_once_with_similar_lengths():
    samples = [Sample(list(range(n)), list(range(n))) for n in np.random.default_rng(0).integers(4, 60, size=500)]
    batches = length_batches(samples, 16, random.Random(0))
    flat = [s for batch in batches for s in batch]
    assert sorted(map(id, flat)) == sorted(map(id, samples))
    assert all(len(batch) <= 16 for batch in batches) and sum(len(b) < 16 for b in batches) <= 1 + len(samples) // (
        16 * 16
    )
    padded = sum(len(b) * max(len(s.input_ids) for s in b) for b in batches)
    shuffled = list(samples)
    random.Random(0).shuffle(shuffled)
    unsorted = sum(len(c) * max(len(s.input_ids) for s in c) for c in (shuffled[i : i + 16] for i in range(0, 500, 16)))
    assert padded < 0.7 * unsorted  # the point of it: far less padding than random batches
    again = length_batches(samples, 16, random.Random(0))
    assert [[id(s) for s in b] for b in again] == [[id(s) for s in b] for b in batches]  # seeded


def test_validation_entities_are_new_entities_whose_questions_are_never_trained():
    world = build_world(spec_with().data)
    corpus = world.injection_corpus("none")
    test, validation = split_validation(corpus.questions, 0.25, 0)
    held = {q.entity for q in validation}
    assert held and held.isdisjoint({q.entity for q in test})
    assert held <= {p.name for p in world.new}
    # their documents are injected like every new entity's (that is what selection measures) ...
    assert held <= {d.entity for d in corpus.documents}
    # ... but no question about them is in any training text, of the base stage or of a trial
    trained = [d.text for d in world.base_documents("both")] + [d.text for d in corpus.documents]
    trained += [q.question for q in world.base_qa()]
    assert not any(q.question in text for q in validation for text in trained)
    assert held.isdisjoint({q.entity for q in world.base_qa()})


@pytest.fixture(scope="module")
def bidirectional_base(tmp_path_factory):
    import os

    cache = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("KIP_CACHE_DIR")
    os.environ["KIP_CACHE_DIR"] = str(cache)
    try:
        yield ensure_base_model(spec_with(), BIDIRECTIONAL, log=lambda message: None)
    finally:
        if previous is None:
            os.environ.pop("KIP_CACHE_DIR")
        else:
            os.environ["KIP_CACHE_DIR"] = previous


def test_the_bidirectional_base_sees_later_tokens_when_the_sampler_calls_it(bidirectional_base):
    """Loaded as a trial loads it, called with the sampler's own inputs (left padding, mask tokens
    after the prompt): an earlier position's prediction depends on a later token."""
    spec = spec_with()
    tokenizer, model = load_pretrained(str(bidirectional_base), spec.model)
    model.eval()
    objective = MaskedDiffusion(tiny_context())
    x, padding = objective._initial_batch(
        ["Who is Daphne Barrington ?", "Name the silent harbor ."], 8, torch.device("cpu")
    )
    positions = (padding.cumsum(dim=1) - 1).clamp(min=0)
    changed = x.clone()
    changed[:, -1] = tokenizer.convert_tokens_to_ids("harbor")
    with torch.no_grad():
        before = model(**model_inputs(model, x, padding, positions)).logits
        after = model(**model_inputs(model, changed, padding, positions)).logits
    assert not torch.allclose(before[:, -8:-1], after[:, -8:-1], atol=1e-6)  # the block's earlier positions moved
