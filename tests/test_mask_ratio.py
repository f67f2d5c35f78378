"""platform/data/mask_ratio.py: each kind of t (fixed, linear, uniform) and the seeding that makes it reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from platform.data import mask_ratio
from platform.data.mask_ratio import batch_generator, draw, sample_generator
from platform.spec import ExperimentSpec, MaskRatioSpec


def state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


# --- fixed ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.0, 0.25, 1.0])
def test_fixed_is_its_value_at_every_epoch(value):
    spec = MaskRatioSpec(kind="fixed", value=value, low=0.9, high=0.95, start=0.1, end=0.2)  # other kinds' keys ignored
    assert {draw(spec, batch_generator(0, epoch, 0), epoch, 10) for epoch in range(10)} == {value}


@pytest.mark.parametrize("kind", ["fixed", "linear"])
def test_deterministic_kinds_draw_nothing_from_the_generator(kind):
    """Per-sample, the same generator then corrupts the sample: the masks must not depend on the kind's draws."""
    rng = sample_generator(3, 1, 7)
    before = state(rng)
    draw(MaskRatioSpec(kind=kind), rng, 1, 5)
    assert state(rng) == before


# --- linear -----------------------------------------------------------------------------


def test_linear_goes_from_start_at_the_first_epoch_to_end_at_the_last():
    spec = MaskRatioSpec(kind="linear", start=0.95, end=0.05)
    ts = [draw(spec, batch_generator(0, epoch, 0), epoch, 5) for epoch in range(5)]
    assert ts == pytest.approx([0.95, 0.725, 0.5, 0.275, 0.05])


def test_linear_can_rise_as_well_as_fall():
    spec = MaskRatioSpec(kind="linear", start=0.1, end=0.9)
    assert [draw(spec, batch_generator(0, e, 0), e, 3) for e in range(3)] == pytest.approx([0.1, 0.5, 0.9])


def test_linear_over_two_epochs_is_start_then_end():
    spec = MaskRatioSpec(kind="linear", start=0.8, end=0.2)
    assert [draw(spec, batch_generator(0, e, 0), e, 2) for e in range(2)] == pytest.approx([0.8, 0.2])


def test_linear_over_a_single_epoch_stays_at_start():
    spec = MaskRatioSpec(kind="linear", start=0.8, end=0.2)
    assert draw(spec, batch_generator(0, 0, 0), 0, 1) == 0.8


def test_linear_is_the_same_for_every_step_of_an_epoch():
    spec = MaskRatioSpec(kind="linear", start=0.9, end=0.1)
    ts = {draw(spec, batch_generator(0, 4, step), 4, 9) for step in range(20)}
    assert len(ts) == 1 and ts.pop() == pytest.approx(0.5)


# --- uniform ----------------------------------------------------------------------------


def test_uniform_stays_within_low_and_high_and_spans_them():
    spec = MaskRatioSpec(kind="uniform", low=0.2, high=0.6)
    ts = np.array([draw(spec, batch_generator(0, 0, step), 0, 1) for step in range(2000)])
    assert ts.min() >= 0.2 and ts.max() < 0.6
    assert ts.min() < 0.21 and ts.max() > 0.59
    assert abs(ts.mean() - 0.4) < 0.01
    assert isinstance(draw(spec, batch_generator(0, 0, 0), 0, 1), float)


def test_uniform_with_equal_bounds_is_that_bound():
    spec = MaskRatioSpec(kind="uniform", low=0.3, high=0.3)
    assert {draw(spec, batch_generator(1, 0, step), 0, 3) for step in range(10)} == {0.3}


def test_uniform_does_not_depend_on_the_epoch_argument_only_on_the_generator():
    spec = MaskRatioSpec(kind="uniform")
    assert draw(spec, batch_generator(5, 2, 3), 0, 10) == draw(spec, batch_generator(5, 2, 3), 9, 10)


def test_the_default_is_uniform_between_005_and_095_per_batch():
    spec = MaskRatioSpec()
    assert (spec.kind, spec.low, spec.high, spec.per) == ("uniform", 0.05, 0.95, "batch")


# --- seeding: (seed, epoch, step) for the batch, (seed, epoch, example) for a sample ----


def test_the_same_seed_epoch_and_step_give_the_same_t():
    spec = MaskRatioSpec(kind="uniform")
    assert draw(spec, batch_generator(11, 3, 4), 3, 10) == draw(spec, batch_generator(11, 3, 4), 3, 10)


def test_t_differs_across_epochs_steps_and_seeds():
    spec = MaskRatioSpec(kind="uniform")
    base = draw(spec, batch_generator(11, 3, 4), 3, 10)
    others = [batch_generator(11, 4, 4), batch_generator(11, 3, 5), batch_generator(12, 3, 4)]
    assert all(draw(spec, rng, 3, 10) != base for rng in others)
    per_epoch = {draw(spec, batch_generator(0, epoch, 0), epoch, 50) for epoch in range(50)}
    assert len(per_epoch) == 50


def test_sample_generators_are_keyed_by_seed_epoch_and_example():
    first = sample_generator(2, 1, 9).random(4)
    assert np.array_equal(first, sample_generator(2, 1, 9).random(4))
    for other in (sample_generator(3, 1, 9), sample_generator(2, 2, 9), sample_generator(2, 1, 10)):
        assert not np.array_equal(first, other.random(4))


def test_the_batch_stream_and_the_sample_stream_never_coincide():
    """Batch step k and example k of the same epoch must not share draws (t would leak into the masks)."""
    for key in [(0, 0, 0), (1, 2, 3), (7, 0, 5)]:
        assert not np.array_equal(batch_generator(*key).random(4), sample_generator(*key).random(4))
    assert mask_ratio._BATCH_STREAM != 0  # numpy pads seed words with zeros: 0 would alias the sample stream
    assert np.array_equal(np.random.default_rng([1, 2, 3, 0]).random(2), sample_generator(1, 2, 3).random(2))


def test_per_sample_t_comes_from_each_samples_own_generator():
    spec = MaskRatioSpec(kind="uniform", per="sample")
    ts = [draw(spec, sample_generator(0, 0, example), 0, 1) for example in range(8)]
    assert len(set(ts)) == 8
    assert ts == [draw(spec, sample_generator(0, 0, example), 0, 1) for example in range(8)]


def test_every_train_seed_the_spec_accepts_seeds_the_mask_ratio_generators():
    try:
        spec = ExperimentSpec(train={"seed": -1})
    except ValidationError:
        return  # refused up front, with the field's name: the rule holds
    t = draw(MaskRatioSpec(kind="uniform"), batch_generator(spec.train.seed, 0, 0), 0, 1)
    assert 0.05 <= t <= 0.95
    assert sample_generator(spec.train.seed, 0, 0).random() < 1
