"""Bootstrap intervals for statistics that are functions of column sums over items (questions, prompts).

A statistic here is a function of the sums of a few per-item columns (and of the item count), which covers every
figure wattbench reports: a mean is a sum over the count, NA recall a ratio of two sums, the overall WattBot score
a weighted mix of those. Resampling items then means resampling the rows of one matrix and summing its columns,
done in chunks as one vectorised gather, and the jackknife BCa needs is closed-form (each leave-one-out sum is the
total minus that row).

The interval is BCa (bias-corrected and accelerated; Efron 1987, Efron and Tibshirani 1993, ch. 14): it is
second-order accurate, where the percentile interval is first-order, and it corrects for the skew a mean of
bounded, often 0/1, scores has near 0 or 1 on a few dozen questions. The bias correction counts ties at the
point estimate as half below, since a mean of 0/1 scores over n items takes only n + 1 values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from wattbench.errors import ConfigError

Sums = dict[str, np.ndarray]
"""Column name → its sums, one per resample (or per leave-one-out, or a single value for the sample)."""
Statistic = Callable[[Sums, np.ndarray], np.ndarray]
"""(sums, item counts) → the statistic, elementwise."""

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
_CELLS_PER_CHUNK = 2_000_000
"""Counts per chunk (resamples x items), about 16 MB of float64."""


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are drawn: resamples, the seed (the same input gives the same interval), the level."""

    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    level: float = DEFAULT_LEVEL

    def __post_init__(self) -> None:
        if self.resamples < 1000:
            raise ConfigError(
                f"--bootstrap: {self.resamples} is too few resamples for an interval; use 1000 or more (default 10000)"
            )
        if not 0.5 <= self.level < 1.0:
            raise ConfigError(f"--ci-level: {self.level} is not in [0.5, 1); use e.g. 0.95")

    @property
    def key(self) -> str:
        """The JSON key of an interval at this level: ci95, ci90, ci99.9."""
        return f"ci{self.level * 100:g}"

    def describe(self) -> dict[str, object]:
        return {"method": "bca", "resamples": self.resamples, "seed": self.seed, "level": self.level,
                "unit": "question"}  # fmt: skip


_KEPT_CELLS = 16_000_000
"""Resample matrices kept for reuse (about 128 MB of float64): a campaign's runs share their question count, seed
and resample count, so every interval and paired test of one command draws the same resamples; drawing them once
instead of once per run is what keeps `report` linear at 1,000 runs (the draws were most of its time)."""
_KEPT: dict[tuple[object, ...], list[np.ndarray]] = {}


def kept_chunks(key: tuple[object, ...], cells: int, make: Callable[[], Iterator[np.ndarray]]) -> Iterator[np.ndarray]:
    """The chunks `make` yields, drawn once per `key` and kept read-only while they fit in _KEPT_CELLS (the
    oldest dropped first); past it drawn afresh each time."""
    if key in _KEPT:
        yield from _KEPT[key]
        return
    if cells > _KEPT_CELLS:
        yield from make()
        return
    chunks = list(make())
    for chunk in chunks:
        chunk.setflags(write=False)
    while _KEPT and sum(c.size for kept in _KEPT.values() for c in kept) + cells > _KEPT_CELLS:
        _KEPT.pop(next(iter(_KEPT)))
    _KEPT[key] = chunks
    yield from chunks


def resample_counts(n: int, spec: Bootstrap, stream: int = 0) -> Iterator[np.ndarray]:
    """Chunks of resamples as counts, shape (rows, n): how often each item was drawn, `spec.resamples` rows in
    all. Counts and one matrix product sum every column at once, several times faster than gathering rows.
    `stream` separates the draws of different uses of one seed. The same arguments give the same counts (read
    only: callers multiply them, never write to them)."""
    key = ("counts", n, spec.seed, spec.resamples, stream)
    return kept_chunks(key, n * spec.resamples, lambda: _draw_counts(n, spec, stream))


def _draw_counts(n: int, spec: Bootstrap, stream: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng([spec.seed, stream])
    per_chunk = max(1, _CELLS_PER_CHUNK // max(1, n))
    left = spec.resamples
    while left > 0:
        rows = min(per_chunk, left)
        drawn = rng.integers(0, n, size=(rows, n), dtype=np.int64)
        drawn += np.arange(rows, dtype=np.int64)[:, None] * n
        yield np.bincount(drawn.ravel(), minlength=rows * n).reshape(rows, n).astype(np.float64)
        left -= rows


def column_sums(matrix: np.ndarray, names: list[str], spec: Bootstrap) -> Sums:
    """Each column's sum over every resample of the rows of `matrix` (items x columns)."""
    stacked = np.concatenate([counts @ matrix for counts in resample_counts(matrix.shape[0], spec)], axis=0)
    return {name: stacked[:, k] for k, name in enumerate(names)}


@dataclass(frozen=True)
class Draws:
    """A statistic at the sample, over the bootstrap resamples and over the leave-one-out samples."""

    point: float
    boot: np.ndarray
    jack: np.ndarray

    @property
    def se(self) -> float:
        return float(self.boot.std(ddof=1))

    def interval(self, level: float) -> tuple[float, float]:
        return bca(self.point, self.boot, self.jack, level)


def draws(matrix: np.ndarray, names: list[str], statistics: dict[str, Statistic], spec: Bootstrap) -> dict[str, Draws]:
    """Every statistic of `statistics` on one shared set of resamples of the items (rows of `matrix`)."""
    n = matrix.shape[0]
    if n < 2:
        raise ValueError("an interval needs at least 2 items")
    totals = {name: matrix[:, k].sum() for k, name in enumerate(names)}
    boot = column_sums(matrix, names, spec)
    leave_one_out = {name: totals[name] - matrix[:, k] for k, name in enumerate(names)}
    one = np.ones(1)
    out = {}
    for stat_name, stat in statistics.items():
        point = float(stat({k: np.atleast_1d(v) for k, v in totals.items()}, one * n)[0])
        out[stat_name] = Draws(point, stat(boot, np.full(spec.resamples, n)), stat(leave_one_out, np.full(n, n - 1)))
    return out


def bca(point: float, boot: np.ndarray, jack: np.ndarray, level: float) -> tuple[float, float]:
    """The BCa interval from the bootstrap and jackknife values of a statistic. A statistic that does not vary
    over the resamples (every question scored 1) has the point as both ends."""
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return (math.nan, math.nan)
    if np.all(boot == boot[0]):
        return (float(boot[0]), float(boot[0]))
    normal = NormalDist()
    below = (np.count_nonzero(boot < point) + 0.5 * np.count_nonzero(boot == point)) / boot.size
    z0 = normal.inv_cdf(min(max(below, 1e-6), 1 - 1e-6))
    centred = jack.mean() - jack
    spread = float((centred**2).sum())
    accel = float((centred**3).sum()) / (6 * spread**1.5) if spread > 0 else 0.0
    ends = []
    for tail in ((1 - level) / 2, (1 + level) / 2):
        z = normal.inv_cdf(tail)
        shifted = z0 + (z0 + z) / (1 - accel * (z0 + z))
        ends.append(float(np.quantile(boot, min(max(normal.cdf(shifted), 0.0), 1.0))))
    return (ends[0], ends[1])


def percentile(boot: np.ndarray, level: float) -> tuple[float, float]:
    """The percentile interval (for a check against BCa, and where no jackknife exists)."""
    lo, hi = np.quantile(boot[np.isfinite(boot)], [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi))
