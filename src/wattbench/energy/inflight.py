"""Per-request energy when requests overlap on one engine: each stretch of the window's energy split over the
requests in flight in it.

What is known, per request: when it was sent, when each of its outputs arrived (the first ends its prefill) and
when it ended; per scope kind (gpu, cpu): the counter at the two edges of the generate call, and the power the
sampler read in between. That is enough for this rule:

1. The call is cut into stretches at every request event (sent, each delivery, end) and every power sample. A
   stretch's energy is the counter's difference over the call shaped by the sampled power (trapezoid between
   samples; flat where there are none), so the stretches add up to the counter's figure exactly.
2. A stretch's energy is a base part, the base power times its length (the idle baseline where the run took one,
   else the intercept fitted in 3), shared equally by the requests in flight in it; the rest, the requests' own
   part, is shared in proportion to what a request in its phase draws: `prefill_w` for one waiting for its first
   token, `decode_w` for one past it.
3. `prefill_w` and `decode_w` are fitted over the call's stretches by least squares on the additive model
   power = base + prefill_w x (requests in prefill) + decode_w x (requests in decode), weighted by length. When
   the two cannot be told apart (every stretch has the same mix) or a fit is negative, both are the mean own
   power per request in flight, so the own part is shared by time in flight.
4. A stretch with no request in flight (before the first request left, after the last ended) is shared by all of
   the call's requests in proportion to what they got otherwise; then every request's total is scaled so that
   the requests of the window add up exactly to the window's measured energy (the window holds the call).

Where power really is base plus a fixed draw per request in each phase, the rule recovers each request's own
energy (exactly with exact power readings, within the sampler's resolution otherwise). Where it is not (a power
that saturates as the batch grows, memory-bound decode steps whose cost is shared), the fitted draws are the
best additive description of the call, and benchmarks/RESULTS.md says how far that is from the truth. What the
rule cannot know: the engine's own schedule (which requests a step really computed, a preempted request, chunked
prefill interleaved with decode); it sees power and token arrival only.

A request alone in its call gets what the lone-request split gives (energy/phases.py: the counters read at its
own edges), so batch size 1 is unchanged.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wattbench.energy.base import Measurement, Meter, Reading, scope_kind

RULE = "in_flight"
"""What a per-request share is, as records say (`energy_share`): this module's rule; else `output_tokens`."""


@dataclass
class RequestTimes:
    """One request's events on the meter's clock."""

    sent_s: float | None = None
    deliveries_s: list[float] = field(default_factory=list)
    end_s: float | None = None

    @property
    def first_s(self) -> float | None:
        return self.deliveries_s[0] if self.deliveries_s else None


@dataclass
class RequestEnergy:
    """One request's share of one scope kind."""

    energy_j: float
    prefill_j: float
    decode_j: float
    base_j: float
    """Its share of the base power (the rest of energy_j is its own draw, and its share of idle stretches)."""

    def to_dict(self) -> dict[str, float]:
        return {"energy_j": self.energy_j, "prefill_energy_j": self.prefill_j, "decode_energy_j": self.decode_j,
                "base_energy_j": self.base_j}  # fmt: skip


@dataclass(frozen=True)
class Fit:
    base_w: float
    prefill_w: float
    decode_w: float
    fitted: bool
    """False: the two draws could not be told apart and are both the mean own power per request."""


class Curve:
    """Cumulative energy of one kind over the call: exact at the counter readings (knots), shaped in between by
    the sampled power (linear between samples, flat beyond the first and last; flat everywhere without any)."""

    def __init__(self, knots: list[tuple[float, float]], samples: list[tuple[float, float]]) -> None:
        self.knots = sorted(knots)
        self.samples = sorted(samples)
        self._times = [t for t, _ in self.samples]
        self._power = [w for _, w in self.samples]
        self._integral = [0.0]  # ∫ power from the first sample to each sample
        for (t0, p0), (t1, p1) in zip(self.samples, self.samples[1:]):
            self._integral.append(self._integral[-1] + (t1 - t0) * (p0 + p1) / 2)

    def _shape(self, t: float) -> float:
        """∫ sampled power up to `t` (from an arbitrary origin): differences of it give a stretch's shape."""
        times, power = self._times, self._power
        if not times:
            return t
        if t <= times[0]:
            return (t - times[0]) * power[0]
        if t >= times[-1]:
            return self._integral[-1] + (t - times[-1]) * power[-1]
        i = bisect.bisect_right(times, t) - 1
        t0, p0, p1 = times[i], power[i], power[i + 1]
        at = p0 + (p1 - p0) * (t - t0) / (times[i + 1] - t0)
        return self._integral[i] + (t - t0) * (p0 + at) / 2

    def between(self, a: float, b: float) -> float:
        return self.at(b) - self.at(a)

    def at(self, t: float) -> float:
        k = self.knots
        if t <= k[0][0]:
            return k[0][1]
        if t >= k[-1][0]:
            return k[-1][1]
        i = bisect.bisect_right([x for x, _ in k], t) - 1
        (t0, c0), (t1, c1) = k[i], k[i + 1]
        whole = self._shape(t1) - self._shape(t0)
        fraction = (self._shape(t) - self._shape(t0)) / whole if whole > 0 else (t - t0) / (t1 - t0)
        return c0 + (c1 - c0) * fraction


def fit_draws(stretches: list[tuple[float, float, int, int]], base_w: float | None) -> Fit:
    """The additive model's draws from (length s, energy J, requests in prefill, in decode) per stretch."""
    busy = [(dt, e, n_p, n_d) for dt, e, n_p, n_d in stretches if dt > 0 and n_p + n_d > 0]
    if not busy:
        return Fit(base_w or 0.0, 0.0, 0.0, False)
    dt = np.array([s[0] for s in busy])
    power = np.array([s[1] for s in busy]) / dt
    n_p = np.array([s[2] for s in busy], dtype=float)
    n_d = np.array([s[3] for s in busy], dtype=float)
    weight = np.sqrt(dt)
    columns = [n_p, n_d] if base_w is not None else [np.ones_like(dt), n_p, n_d]
    target = power - (base_w or 0.0)
    design = np.column_stack(columns) * weight[:, None]
    solution, _, rank, _ = np.linalg.lstsq(design, target * weight, rcond=None)
    base = base_w if base_w is not None else float(solution[0])
    draws = solution if base_w is not None else solution[1:]
    if rank == design.shape[1] and base >= 0 and draws[0] >= 0 and draws[1] >= 0:
        return Fit(base, float(draws[0]), float(draws[1]), True)
    base = max(base_w if base_w is not None else min(power.min(), max(base, 0.0)), 0.0)
    mean = float(np.sum((power - base) * dt) / np.sum((n_p + n_d) * dt))
    return Fit(base, max(mean, 0.0), max(mean, 0.0), False)


def attribute(
    curve: Curve, call: tuple[float, float], requests: list[RequestTimes], base_w: float | None, total_j: float
) -> tuple[list[RequestEnergy], Fit]:
    """Each request's share of one kind's `total_j` (the window's energy); see the module docstring."""
    start, end = call
    ends = [min(r.end_s if r.end_s is not None else end, end) for r in requests]
    sents = [max(r.sent_s if r.sent_s is not None else start, start) for r in requests]
    cuts = {start, end, *(t for t, _ in curve.samples if start < t < end)}
    for r, s, e in zip(requests, sents, ends):
        cuts.update(t for t in (s, e, *r.deliveries_s) if start <= t <= end)
    edges = sorted(cuts)
    firsts = [r.first_s if r.first_s is not None else end for r in requests]  # no output: prefill to its end
    stretches: list[tuple[float, float, float, list[int], set[int]]] = []
    for a, b in zip(edges, edges[1:]):
        flight = [i for i, (s, e) in enumerate(zip(sents, ends)) if s <= a and e >= b]
        stretches.append((a, b, curve.between(a, b), flight, {i for i in flight if firsts[i] >= b}))
    fit = fit_draws([(b - a, e, len(p), len(f) - len(p)) for a, b, e, f, p in stretches], base_w)
    n = len(requests)
    pre, dec, base, idle = [0.0] * n, [0.0] * n, [0.0] * n, 0.0
    for a, b, energy, flight, prefill in stretches:
        if not flight:
            idle += energy
            continue
        base_part = fit.base_w * (b - a)
        own = energy - base_part
        weights = [fit.prefill_w if i in prefill else fit.decode_w for i in flight]
        total_w = sum(weights)
        for i, w in zip(flight, weights):
            share = base_part / len(flight) + own * (w / total_w if total_w > 0 else 1 / len(flight))
            base[i] += base_part / len(flight)
            (pre if i in prefill else dec)[i] += share
    raw = [p + d for p, d in zip(pre, dec)]
    got = sum(raw)
    with_idle = [r + idle * (r / got if got > 0 else 1 / n) for r in raw]
    whole = sum(with_idle)
    scaled = [total_j * r / whole if whole > 0 else total_j / n for r in with_idle]
    if scaled:
        scaled[-1] = total_j - sum(scaled[:-1])  # the shares add up to the window exactly
    return [RequestEnergy(s, p, d, b) for s, p, d, b in zip(scaled, pre, dec, base)], fit


class InFlight:
    """The events of one generate call's requests and the counters at its edges; after the call, each request's
    share of a window holding it (`shares`). The power samples come from the meter's sampler, when it runs."""

    def __init__(self, meter: Meter, requests: int) -> None:
        self.meter = meter
        self.times = [RequestTimes() for _ in range(requests)]
        self._lock = threading.Lock()
        self._first: Reading | None = None
        self._last: Reading | None = None
        sampler = meter.sampler
        self._series = sampler.start_series() if sampler is not None and sampler.running else None

    def begin(self) -> None:
        self._first = self.meter.reading()

    def hook(self, index: int, previous: Callable[[str], None] | None) -> Callable[[str], None]:
        def on_output(event: str) -> None:
            now = self.meter.clock()
            with self._lock:
                times = self.times[index]
                if event == "sent" and times.sent_s is None:
                    times.sent_s = now
                elif event == "token":
                    times.deliveries_s.append(now)
                elif event == "done" and times.end_s is None:
                    times.end_s = now
            if previous is not None:
                previous(event)

        return on_output

    def end(self) -> None:
        self._last = self.meter.reading()

    def shares(self, window: Measurement | None) -> list[dict[str, Any]] | None:
        """Per request, per kind of scope the window measured: its RequestEnergy as a dict; None when the call's
        edges were not read. The sampler's series is closed here."""
        samples = self.meter.sampler.end_series(self._series) if self._series is not None else []
        if window is None or self._first is None or self._last is None:
            return None
        if not any(times.deliveries_s for times in self.times):
            return None  # an engine that streams nothing (an unstreamed server): no phase is known, tokens decide
        start, end = self._first[0], self._last[0]
        for times in self.times:  # an engine that reports no "sent" (in process) starts every request at the call
            if times.sent_s is None:
                times.sent_s = start
            if times.end_s is None:
                times.end_s = end
        out: list[dict[str, Any]] = [{} for _ in self.times]
        for kind, total_j in window.totals_j().items():
            if total_j is None:
                continue
            scopes = [s for s in window.energy_j if scope_kind(s) == kind]
            knots = [(start, sum(self._first[1].get(s, 0.0) for s in scopes)),
                     (end, sum(self._last[1].get(s, 0.0) for s in scopes))]  # fmt: skip
            power = [(t, sum(w.get(s, 0.0) for s in scopes)) for t, w in samples if all(s in w for s in scopes)]
            idle = [window.idle_power_w[s] for s in scopes if s in window.idle_power_w]
            base = sum(idle) if idle and len(idle) == len(scopes) else None
            found, fit = attribute(Curve(knots, power), (start, end), self.times, base, total_j)
            for record, share in zip(out, found):
                record[kind] = {**share.to_dict(), "fit": {"base_w": fit.base_w, "prefill_w": fit.prefill_w,
                                                           "decode_w": fit.decode_w, "fitted": fit.fitted}}  # fmt: skip
        return out
