"""benchmarks.timing.median_wall: the median, not the mean, of the calls' wall times."""

import itertools
import time

import pytest

from benchmarks.timing import median_wall


def test_median_ignores_one_slow_call_and_returns_the_last_result():
    sleeps = iter([0.0, 0.3, 0.0])
    calls = itertools.count(1)

    def fn():
        time.sleep(next(sleeps))
        return next(calls)

    result, wall = median_wall(fn, 3)
    assert result == 3
    assert wall < 0.05  # the mean would be 0.1 or more; the median is ~0


def test_median_of_uniformly_slow_calls_is_their_duration():
    _, wall = median_wall(lambda: time.sleep(0.05), 3)
    assert 0.05 <= wall < 0.5


def test_bad_repeats_raise():
    with pytest.raises(ValueError, match="repeats must be >= 1, got 0"):
        median_wall(lambda: None, 0)
