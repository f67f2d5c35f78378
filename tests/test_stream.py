"""The masked stream: same seed -> same masks, whatever the number of workers or blocks;
new masks every epoch and for every seed; every rank takes the same number of steps."""

from __future__ import annotations

import numpy as np
import pytest

from objectives.masked_ar import MaskedAR
from platform.data.stream import MicroBatchBuilder, StreamPlan, build_streams
from platform.data.worlds.name_description import build_world
from platform.spec import MaskRatioSpec
from tests.helpers import tiny_context

EPOCHS = 3


def builder(seed: int) -> MicroBatchBuilder:
    objective = MaskedAR(tiny_context())
    examples = objective.encode(build_world(0, 10, 10, 0.5).injection_corpus())
    return MicroBatchBuilder(objective, examples, MaskRatioSpec(), seed, EPOCHS)


def samples_by_epoch(seed: int, workers: int) -> dict[int, dict[bytes, int]]:
    """(epoch -> {sample input_ids bytes -> count}) over all ranks of the stream."""
    plan = StreamPlan(10, EPOCHS, 4, workers, seed)
    build = builder(seed)
    seen: dict[int, dict[bytes, int]] = {}
    for rank in range(workers):
        for row in plan.rows(rank):
            samples, _ = build.samples(row["epoch"], row["step"], row["example_ids"])
            for sample in samples:
                key = np.asarray(sample.input_ids).tobytes()
                seen.setdefault(row["epoch"], {})[key] = seen.setdefault(row["epoch"], {}).get(key, 0) + 1
    return seen


def test_plan_gives_every_rank_the_same_steps_and_covers_each_epoch():
    plan = StreamPlan(10, EPOCHS, 4, 2, seed=0)
    ranks = [plan.rows(r) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == EPOCHS * plan.steps_per_epoch()
    for epoch in range(EPOCHS):
        ids = np.concatenate([row["example_ids"] for rows in ranks for row in rows if row["epoch"] == epoch])
        assert sorted(ids.tolist()) == list(range(10))


def test_masks_identical_for_one_and_two_workers_and_reruns():
    one, two, again = samples_by_epoch(7, 1), samples_by_epoch(7, 2), samples_by_epoch(7, 1)
    assert one == two == again


def test_masks_differ_across_epochs_and_seeds():
    first = samples_by_epoch(7, 1)
    assert first[0] != first[1] != first[2]
    assert samples_by_epoch(8, 1)[0] != first[0]


@pytest.mark.integration
def test_ray_data_stream_matches_the_plan_with_two_workers(shared_cluster):
    import ray

    from platform.cluster import runtime_env

    ray.init(address=shared_cluster["RAY_ADDRESS"], log_to_driver=False, runtime_env=runtime_env())
    try:
        plan = StreamPlan(10, EPOCHS, 4, 2, seed=7)
        build = builder(7)
        streams = build_streams(build, plan)
        for rank in range(2):
            rows = list(streams[f"train_rank{rank}"].iter_batches(batch_size=1, batch_format="numpy"))
            expected = plan.rows(rank)
            assert [(int(r["epoch"][0]), int(r["step"][0])) for r in rows] == [
                (e["epoch"], e["step"]) for e in expected
            ]
            for got, want in zip(rows, expected, strict=True):
                samples, t = build.samples(want["epoch"], want["step"], want["example_ids"])
                assert float(got["t"][0]) == pytest.approx(t)
                width = max(len(s.input_ids) for s in samples)
                assert got["input_ids"][0].shape == (len(samples), width)
                assert got["input_ids"][0][0, : len(samples[0].input_ids)].tolist() == samples[0].input_ids
    finally:
        ray.shutdown()
