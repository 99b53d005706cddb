"""Spread across repeated measured passes: mean, standard deviation, coefficient of variation and a Student t
interval of the mean, and the rule that stops repeating once the interval is narrow enough.

Repeats sample the machine's noise (clocks, temperature, other load, the engine's scheduling): what a second
identical pass would measure. The t interval assumes the passes are independent draws of one figure, which is
why each pass starts after the warm-up and the idle baseline; with one pass there is no interval, and it says so.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

ONE_PASS = "1 pass: no interval"


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (bisection on the CDF; no scipy in the core)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"t quantile: p = {p} is not in (0, 1)")
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:
        lo *= 2.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class Spread:
    """One figure over the repeats."""

    n: int
    mean: float | None
    sd: float | None
    cv: float | None
    """sd / mean."""
    ci95: tuple[float, float] | None
    """Student t interval of the mean at `level` (the key keeps its name for the default level)."""
    level: float = 0.95
    note: str = ""

    @property
    def half_width(self) -> float | None:
        return None if self.ci95 is None else (self.ci95[1] - self.ci95[0]) / 2

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci95"] = list(self.ci95) if self.ci95 is not None else None
        return out


def spread(values: list[float | None], level: float = 0.95) -> Spread:
    """The spread of the known values (a pass whose figure is unknown is left out and counted out of n)."""
    known = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not known:
        return Spread(0, None, None, None, None, level, "no pass measured this figure")
    mean = statistics.fmean(known)
    if len(known) == 1:
        return Spread(1, mean, None, None, None, level, ONE_PASS)
    sd = statistics.stdev(known)
    half = t_quantile((1 + level) / 2, len(known) - 1) * sd / math.sqrt(len(known))
    cv = sd / mean if mean else None
    return Spread(len(known), mean, sd, cv, (mean - half, mean + half), level)


def converged(values: list[float | None], relative: float, level: float = 0.95) -> bool:
    """Whether the interval of the mean is narrower than `relative` of the mean on each side (at least 2 passes)."""
    found = spread(values, level)
    return found.half_width is not None and found.mean is not None and found.half_width <= relative * abs(found.mean)
