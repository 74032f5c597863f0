import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from burst_core.partition import plan_partition

ranges = st.tuples(st.integers(0, 10**6), st.integers(1, 10**6)).map(lambda t: (t[0], t[0] + t[1]))


@given(ranges, st.integers(1, 10**4), st.integers(1, 5000), st.integers(1, 5))
def test_batches_cover_the_range_exactly_once_in_order(rng, batch_size, parallelism, iterations):
    start, end = rng
    plan = plan_partition(start, end, batch_size, parallelism, iterations)
    position = start
    count = 0
    for expected_id, batch in enumerate(plan.batches()):
        assert batch.batch_id == expected_id
        assert batch.start_index == position
        assert position < batch.end_index <= position + plan.batch_size
        position = batch.end_index
        count += 1
    assert position == end
    assert count == plan.num_batches


@given(ranges, st.integers(1, 10**4), st.integers(1, 5000), st.integers(1, 5))
def test_never_more_batches_than_the_cap_allows(rng, batch_size, parallelism, iterations):
    plan = plan_partition(rng[0], rng[1], batch_size, parallelism, iterations)
    if plan.num_batches > parallelism:
        assert plan.num_batches <= parallelism * iterations
        assert plan.num_rounds <= iterations
    assert plan.batch_size >= batch_size  # never shrunk below the request


@given(ranges, st.integers(1, 10**4), st.integers(1, 3000))
def test_rounds_partition_the_batch_ids(rng, batch_size, parallelism):
    plan = plan_partition(rng[0], rng[1], batch_size, parallelism, 2)
    seen: list[int] = []
    first = 0
    while first < plan.num_batches:
        lo, hi = plan.round_bounds(first)
        assert hi - lo <= parallelism
        seen.extend(range(lo, hi))
        first = hi
    assert seen == list(range(plan.num_batches))


@given(ranges, st.integers(1, 1000), st.integers(1, 200))
def test_batch_file_is_the_json_of_the_round(rng, batch_size, parallelism):
    plan = plan_partition(rng[0], rng[1], batch_size, parallelism, 2)
    lo, hi = plan.round_bounds(0)
    expected = [
        {"batchId": b.batch_id, "startIndex": b.start_index, "endIndex": b.end_index} for b in plan.batches(lo, hi)
    ]
    assert json.loads(plan.batches_json(lo, hi)) == expected


def test_batch_size_adjustment_as_in_the_original():
    # 1,000,000 items in batches of 10 is 100,000 batches; with at most 5,000 per round and 2
    # rounds the batch size becomes ceil(1e6 / 2 / 5000) = 100 -> 10,000 batches in 2 rounds.
    plan = plan_partition(0, 1_000_000, 10, 5000, 2)
    assert (plan.batch_size, plan.num_batches, plan.num_rounds) == (100, 10_000, 2)


def test_no_adjustment_when_batches_fit_in_one_round():
    plan = plan_partition(5, 1005, 50, 5000, 2)
    assert (plan.batch_size, plan.num_batches, plan.num_rounds) == (50, 20, 1)


def test_adjustment_never_shrinks_the_batch_size():
    # The original computed ceil(150 / 2 / 10) = 8 < 10 and made 19 batches instead of 15.
    plan = plan_partition(0, 150, 10, 10, 2)
    assert (plan.batch_size, plan.num_batches) == (10, 15)


def test_last_batch_is_short():
    plan = plan_partition(0, 105, 50, 100, 2)
    assert [(b.start_index, b.end_index) for b in plan.batches()] == [(0, 50), (50, 100), (100, 105)]


@pytest.mark.parametrize("args", [(5, 5, 1, 1, 1), (0, 10, 0, 1, 1), (0, 10, 1, 0, 1)])
def test_invalid_plans_are_refused(args):
    with pytest.raises(ValueError):
        plan_partition(*args)
