"""Eval metrics on hand-computed cases: pass^k, pass@k and Wilson intervals."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh_tools.evaluation._metrics import pass_at_k, pass_hat_k, rate, suite_pass_hat_k, wilson_interval


@pytest.mark.parametrize(
    ("c", "n", "k", "expected"),
    [
        (5, 5, 3, 1.0),
        (0, 5, 1, 0.0),
        (3, 5, 1, 0.6),
        # C(3,2)/C(5,2) = 3/10
        (3, 5, 2, 0.3),
        # C(3,3)/C(5,3) = 1/10
        (3, 5, 3, 0.1),
        # k > c: no k-subset is all successes
        (2, 5, 3, 0.0),
        # C(7,4)/C(8,4) = 35/70
        (7, 8, 4, 0.5),
    ],
)
def test_pass_hat_k_matches_hand_computed_values(c: int, n: int, k: int, expected: float) -> None:
    assert pass_hat_k(c, n, k) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("c", "n", "k", "expected"),
    [
        (3, 5, 1, 0.6),
        # 1 - C(2,2)/C(5,2) = 1 - 1/10
        (3, 5, 2, 0.9),
        # every 3-subset of 5 with 3 successes has one
        (3, 5, 3, 1.0),
        (0, 4, 2, 0.0),
    ],
)
def test_pass_at_k_matches_hand_computed_values(c: int, n: int, k: int, expected: float) -> None:
    assert pass_at_k(c, n, k) == pytest.approx(expected)


@pytest.mark.parametrize(("c", "n", "k"), [(6, 5, 1), (-1, 5, 1), (2, 5, 0), (2, 5, 6)])
def test_estimators_refuse_impossible_counts(c: int, n: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_hat_k(c, n, k)
    with pytest.raises(ValueError):
        pass_at_k(c, n, k)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # p = 0.8, n = 10: centre 0.7167, half-width 0.2266 (z = 1.96), the textbook example.
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_wilson_interval_matches_hand_computed_values(
    successes: int, n: int, low: float, high: float
) -> None:
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_of_nothing_is_everything() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert rate(0, 0).value is None
    assert str(rate(0, 0)) == "n/a"


@given(st.integers(min_value=1, max_value=500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_brackets_the_estimate(counts: tuple[int, int]) -> None:
    successes, n = counts
    low, high = wilson_interval(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0


@given(st.integers(min_value=1, max_value=12).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_pass_hat_k_falls_with_k_and_equals_pass_at_1_at_k_1(counts: tuple[int, int]) -> None:
    c, n = counts
    values = [pass_hat_k(c, n, k) for k in range(1, n + 1)]
    assert values[0] == pytest.approx(pass_at_k(c, n, 1)) == pytest.approx(c / n)
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_suite_pass_hat_k_averages_tasks_and_skips_short_ones() -> None:
    # Tasks: 3/3 -> 1.0, 2/3 -> C(2,2)/C(3,2) = 1/3, 0/3 -> 0; a 1-trial task cannot give pass^2.
    result = suite_pass_hat_k([(3, 3), (2, 3), (0, 3), (1, 1)], k=2)
    assert result.n == 3
    assert result.value == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert result.low < result.value < result.high
    assert math.isclose(result.successes, 4 / 3)
