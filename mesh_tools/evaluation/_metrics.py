"""Success metrics over repeated trials: pass@k, pass^k and Wilson score intervals.

A task run ``n`` times with ``c`` successes gives, for ``k <= n``:

- ``pass^k = C(c, k) / C(n, k)``: the chance that ``k`` trials drawn without replacement *all*
  succeed (τ-bench's reliability measure, arXiv 2406.12045);
- ``pass@k = 1 - C(n - c, k) / C(n, k)``: the chance that *at least one* of them succeeds.

Both are unbiased estimators and are averaged over tasks. ``pass^1 == pass@1`` is the plain success rate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ._report_data import RateData

__all__ = [
    "Z_95",
    "Rate",
    "mcnemar_exact",
    "paired_bootstrap",
    "pass_at_k",
    "pass_hat_k",
    "rate",
    "suite_pass_hat_k",
    "wilson_interval",
]

#: The normal quantile for a two-sided 95% interval.
Z_95 = 1.959963984540054


def _check_counts(successes: int, trials: int, k: int) -> None:
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and trials ({trials}), got {successes}")
    if not 1 <= k <= trials:
        raise ValueError(f"k must be between 1 and the number of trials ({trials}), got {k}")


def pass_hat_k(successes: int, trials: int, k: int) -> float:
    """The unbiased estimate of pass^k for one task: ``C(c, k) / C(n, k)``."""
    _check_counts(successes, trials, k)
    return math.comb(successes, k) / math.comb(trials, k)


def pass_at_k(successes: int, trials: int, k: int) -> float:
    """The unbiased estimate of pass@k for one task: ``1 - C(n - c, k) / C(n, k)``."""
    _check_counts(successes, trials, k)
    return 1.0 - math.comb(trials - successes, k) / math.comb(trials, k)


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n``; ``(0, 1)`` when ``n == 0``.

    ``successes`` may be fractional: :func:`suite_pass_hat_k` passes a sum of per-task estimates.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # At p = 0 (or 1) the bound is exactly 0 (or 1); floats leave noise such as 5.6e-17 there.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True, slots=True)
class Rate:
    """A proportion with its 95% Wilson interval; ``value`` is None when nothing was counted."""

    successes: float
    n: int
    value: float | None
    low: float
    high: float

    def to_dict(self) -> RateData:
        return {
            "successes": self.successes,
            "n": self.n,
            "value": self.value,
            "low": self.low,
            "high": self.high,
        }

    def __str__(self) -> str:
        if self.value is None:
            return "n/a"
        return f"{self.value:.1%} [{self.low:.1%}, {self.high:.1%}]"


def rate(successes: float, n: int) -> Rate:
    """``successes / n`` with its Wilson interval."""
    low, high = wilson_interval(successes, n)
    return Rate(successes, n, successes / n if n else None, low, high)


def suite_pass_hat_k(outcomes: Sequence[tuple[int, int]], k: int) -> Rate:
    """pass^k averaged over tasks, each given as ``(successes, trials)``.

    The interval treats each task as one Bernoulli draw whose success count is its pass^k estimate, so
    it reflects the number of tasks rather than the number of trials (the quantity varies per task).
    Tasks with fewer than ``k`` trials are left out.
    """
    estimates = [pass_hat_k(c, n, k) for c, n in outcomes if n >= k]
    return rate(math.fsum(estimates), len(estimates))


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: in ``a_only`` pairs only A succeeded, in ``b_only`` only B.

    Under "no difference" each discordant pair is a fair coin; the p-value is twice the binomial tail of
    the rarer side, capped at 1 (1.0 when there is no discordant pair).
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"counts must not be negative, got {a_only} and {b_only}")
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail: float = math.fsum(math.comb(n, i) for i in range(min(a_only, b_only) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(
    differences: Sequence[float], *, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """The 95% percentile interval of the mean of ``differences`` (one per task), resampling tasks.

    Resampling whole tasks keeps the trials of one task together, so their correlation widens the
    interval as it should. The seed is fixed: the same reports always give the same interval.
    """
    if not differences:
        raise ValueError("need at least one difference")
    generator = random.Random(seed)
    size = len(differences)
    means = sorted(math.fsum(generator.choices(differences, k=size)) / size for _ in range(resamples))
    return means[int(0.025 * resamples)], means[min(resamples - 1, int(0.975 * resamples))]
