"""The benchmarks' one percentile: nearest rank."""

import math

from portal.bench.percentiles import percentile


def test_p95_of_two_runs_is_the_slower_one():
    """Before, the summary's p95 of two runs was the faster (printed below its median)."""
    assert percentile([17.2, 13.2], 0.95) == 17.2


def test_nearest_rank_over_a_hundred_values():
    values = list(range(100, 0, -1))  # 1..100, unsorted
    assert percentile(values, 0.99) == 99
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.5) == 50
    assert percentile(values, 1.0) == 100


def test_one_value_and_none():
    assert percentile([3.0], 0.99) == 3.0
    assert math.isnan(percentile([], 0.95))
