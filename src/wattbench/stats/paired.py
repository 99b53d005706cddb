"""Paired tests between two systems scored on the same items: a paired permutation p-value, the exact McNemar
test, Holm's adjustment, and the power and smallest detectable difference of a comparison.

The p-value is a paired permutation (approximate randomisation) test: under the null that the two systems are
exchangeable, swapping their outputs on any item leaves the distribution unchanged, so each item's pair is
swapped with probability 1/2 and the statistic recomputed (Noreen 1989; Dror et al. 2018 recommend it for NLP
metrics). Unlike a p-value read off the bootstrap distribution it holds its level on a few dozen items and makes
no assumption about the metric's shape; the bootstrap gives the interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from wattbench.stats.bootstrap import Bootstrap, Sums, draws, kept_chunks

_PERMUTATION_STREAM = 1


def permutation_p(
    a: np.ndarray, b: np.ndarray, names: list[str], statistic: Callable[[Sums, np.ndarray], np.ndarray],
    spec: Bootstrap,
) -> float:  # fmt: skip
    """Two-sided p-value of statistic(A) - statistic(B) under random swaps of A's and B's rows (items x columns).
    (1 + as extreme) / (1 + permutations), so it is never 0 (Phipson and Smyth 2010)."""
    n = a.shape[0]
    sums_a, sums_b = a.sum(axis=0), b.sum(axis=0)
    delta = b - a
    count = np.full(1, n)
    observed = float((statistic(_sums(names, sums_a), count) - statistic(_sums(names, sums_b), count))[0])
    extreme = 0
    for swaps in kept_chunks(("swaps", n, spec.seed, spec.resamples), n * spec.resamples, lambda: _swaps(n, spec)):
        rows = swaps.shape[0]
        moved = swaps @ delta  # each resample's change of A's sums (B's change is its negative)
        swapped_a = {k: sums_a[i] + moved[:, i] for i, k in enumerate(names)}
        swapped_b = {k: sums_b[i] - moved[:, i] for i, k in enumerate(names)}
        diffs = statistic(swapped_a, np.full(rows, n)) - statistic(swapped_b, np.full(rows, n))
        extreme += int(np.count_nonzero(np.abs(diffs) >= abs(observed) - 1e-12))
    return (1 + extreme) / (1 + spec.resamples)


def _swaps(n: int, spec: Bootstrap) -> Iterator[np.ndarray]:
    """The permutation test's random swaps (1: the pair's rows swapped), `spec.resamples` rows in chunks."""
    rng = np.random.default_rng([spec.seed, _PERMUTATION_STREAM])
    per_chunk = max(1, 4_000_000 // max(1, n))
    left = spec.resamples
    while left > 0:
        rows = min(per_chunk, left)
        yield rng.integers(0, 2, size=(rows, n)).astype(np.float64)
        left -= rows


def _sums(names: list[str], values: np.ndarray) -> Sums:
    return {k: np.atleast_1d(values[i]) for i, k in enumerate(names)}


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value (McNemar 1947): the discordant pairs are Binomial(only_a + only_b, 1/2)
    under the null; twice the smaller tail, at most 1."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    # In log space so that thousands of discordant pairs neither overflow nor lose the tail.
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(x - top) for x in logs)
    return min(1.0, 2 * tail)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment (Holm 1979): controls the chance of any false 'different' among the
    comparisons made together, without assuming they are independent."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def power(effect: float, se: float, alpha: float = 0.05) -> float:
    """Chance that a two-sided test at `alpha` detects a true difference `effect` whose estimate has standard
    error `se` (normal approximation)."""
    if se <= 0:
        return 1.0 if effect else alpha
    normal = NormalDist()
    z = normal.inv_cdf(1 - alpha / 2)
    shift = abs(effect) / se
    return normal.cdf(shift - z) + normal.cdf(-shift - z)


def detectable(se: float, alpha: float = 0.05, wanted_power: float = 0.8) -> float:
    """The smallest true difference a two-sided test at `alpha` detects with `wanted_power`, for an estimate
    with standard error `se`: (z_{1-alpha/2} + z_power) x se."""
    normal = NormalDist()
    return (normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(wanted_power)) * se


@dataclass(frozen=True)
class PairedRatio:
    """A's figure over B's, per item, summarised as the geometric mean of the per-item ratios."""

    n: int
    ratio: float
    interval: tuple[float, float]
    p_value: float


def paired_ratio(a: np.ndarray, b: np.ndarray, spec: Bootstrap) -> PairedRatio:
    """The geometric mean of a_i / b_i over items where both are positive, with its BCa interval (the mean of
    the log ratios, resampled, exponentiated) and a permutation p-value against a ratio of 1. Ratios, not
    differences: energy and latency per question span orders of magnitude across questions, and a ratio is what
    "uses 0.62x the energy" means."""
    logs = np.column_stack([np.log(a), np.log(b)])
    names = ["log_a", "log_b"]

    def mean_log_ratio(s: Sums, count: np.ndarray) -> np.ndarray:
        return (s["log_a"] - s["log_b"]) / count

    found = draws(logs, names, {"r": mean_log_ratio}, spec)["r"]
    lo, hi = found.interval(spec.level)

    def mean_log(s: Sums, count: np.ndarray) -> np.ndarray:
        return s["log"] / count

    p = permutation_p(logs[:, :1], logs[:, 1:], ["log"], mean_log, spec)
    return PairedRatio(n=len(a), ratio=math.exp(found.point), interval=(math.exp(lo), math.exp(hi)), p_value=p)
