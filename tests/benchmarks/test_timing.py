"""benchmarks.timing: median wall times, and interleaved rounds for fair ratios."""

import itertools
import time

import pytest

from benchmarks.timing import interleaved_walls, median_wall, paired_speedup


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


def test_interleaved_rounds_rotate_the_order_and_keep_one_wall_per_round():
    order = []

    def make(name, sleep):
        def fn():
            order.append(name)
            time.sleep(sleep)
            return name
        return fn

    results, walls = interleaved_walls({"a": make("a", 0.0), "b": make("b", 0.02)}, 4)
    assert results == {"a": "a", "b": "b"}
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert [len(w) for w in walls.values()] == [4, 4]
    assert min(walls["b"]) >= 0.02 and max(walls["a"]) < 0.02


def test_paired_speedup_is_the_median_of_round_ratios():
    # Per-round ratios 10, 10, 2 -> median 10; the ratio of the two medians would be
    # 2 / 0.5 = 4, mixing round 1's base with round 2's other.
    assert paired_speedup([2.0, 5.0, 1.0], [0.2, 0.5, 0.5]) == 10.0
    with pytest.raises(ValueError, match="equally many rounds"):
        paired_speedup([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="repeats must be >= 1, got 0"):
        interleaved_walls({"a": lambda: None}, 0)
