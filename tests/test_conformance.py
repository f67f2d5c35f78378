"""The conformance kit passes every built-in objective and names what is wrong with broken ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import BaseModel

from objectives.base import IGNORE, Example, Objective, Sample
from objectives.conformance import assert_conforms, check_objective
from objectives.masked_ar import MaskedAR
from objectives.paraphrase_ar import ParaphraseAR
from objectives.registry import builtin_objectives, load_reference


@pytest.mark.parametrize("name", sorted(builtin_objectives()))
def test_every_builtin_objective_conforms(name):
    assert_conforms(load_reference(builtin_objectives()[name]))


def test_options_can_be_given_as_a_mapping():
    assert check_objective(ParaphraseAR, options={"paraphrases": "both", "chat": True}) == []


# -- deliberately broken objectives ------------------------------------------------------------
class LabelsOnPrompt(MaskedAR):
    """Trains on the whole sequence, the masked prompt included."""

    name = "labels_on_prompt"

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        sample = super().make_sample(example, rng, t)
        return Sample(sample.input_ids, list(sample.input_ids))


class UnmaskedPrompt(MaskedAR):
    """Forgets to mask: the answer is in the prompt."""

    name = "unmasked_prompt"

    def corrupt(self, ids, rng: np.random.Generator, t: float) -> tuple[list[int], np.ndarray]:
        return list(ids), np.zeros(len(ids), bool)


class FreshRandomness(MaskedAR):
    """Masks with its own generator: a different mask every call, not reproducible from the seed."""

    name = "fresh_randomness"

    def corrupt(self, ids, rng: np.random.Generator, t: float) -> tuple[list[int], np.ndarray]:
        return super().corrupt(ids, np.random.default_rng(), t)


class LooseOptions(BaseModel):
    lr_typo: float = 0.0


class IgnoresTypos(MaskedAR):
    name = "ignores_typos"
    Options = LooseOptions


class BidirectionalCopy(Objective):
    """A bidirectional objective that labels tokens the model can see."""

    name = "bidirectional_copy"
    bidirectional = True

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        ids = [self.ctx.tokenizer.bos_token_id, *example.ids]
        return Sample(ids, [IGNORE, *example.ids])


class ShuffledIds(ParaphraseAR):
    """Numbers its examples from 1: the stream would look up the wrong example."""

    name = "shuffled_ids"

    def encode(self, corpus):
        return [Example(e.example_id + 1, e.ids) for e in super().encode(corpus)]


class LengthWeighted(ParaphraseAR):
    """Weights each document by its length: the default loss honours that."""

    name = "length_weighted"

    def make_sample(self, example: Example, rng: np.random.Generator, t: float) -> Sample:
        sample = super().make_sample(example, rng, t)
        return Sample(sample.input_ids, sample.labels, weight=float(len(example.ids)))


class WeightsIgnored(LengthWeighted):
    """Sets weights, then a loss of its own that drops them: it would train unweighted."""

    name = "weights_ignored"

    def loss(self, logits, labels, weights):
        return super().loss(logits, labels, torch.ones_like(weights))


def test_weights_reach_the_default_loss_and_equal_weights_are_the_plain_token_mean():
    assert check_objective(LengthWeighted) == []
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 40)
    labels = torch.tensor([[IGNORE, 3, 4, 5, IGNORE, IGNORE], [IGNORE, 7, 8, 9, 10, 11]])
    plain = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 40), labels[:, 1:].reshape(-1), ignore_index=IGNORE
    )
    loss = Objective.loss(None, logits, labels, torch.tensor([2.0, 2.0]))
    assert loss.item() == plain.item()  # bit for bit what unweighted training computed
    per_token = torch.nn.functional.cross_entropy(
        logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=IGNORE, reduction="none"
    )
    by_sequence = per_token.sum(dim=1)  # 3 and 5 labelled tokens
    expected = (1 * by_sequence[0] + 3 * by_sequence[1]) / (1 * 3 + 3 * 5)
    assert Objective.loss(None, logits, labels, torch.tensor([1.0, 3.0])).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


@pytest.mark.parametrize(
    ("broken", "reported"),
    [
        (WeightsIgnored, "check_weights_used: its samples carry weights other than 1 but its loss ignores them"),
        (LabelsOnPrompt, "the model is trained to predict the mask token"),
        (
            UnmaskedPrompt,
            "check_no_leak: example 0 at t=1: the input seen before the first target depends on the document",
        ),
        (FreshRandomness, "check_reproducible: example 0: the same generator gave two different samples"),
        (IgnoresTypos, "Options accepts unknown keys"),
        (BidirectionalCopy, "a bidirectional objective labels an unmasked position"),
        (ShuffledIds, "check_examples: example at index 0 has example_id 1"),
    ],
)
def test_broken_objectives_are_reported(broken, reported):
    problems = check_objective(broken)
    assert any(reported in problem for problem in problems), problems
    with pytest.raises(AssertionError, match=f"{broken.__name__} does not conform"):
        assert_conforms(broken)
