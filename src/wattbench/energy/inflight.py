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
        self._times = np.array([t for t, _ in self.samples], dtype=float)
        self._power = np.array([w for _, w in self.samples], dtype=float)
        steps = np.diff(self._times) * (self._power[1:] + self._power[:-1]) / 2 if len(self.samples) > 1 else []
        self._integral = np.concatenate([[0.0], np.cumsum(steps)])  # ∫ power from the first sample to each one

    def _shape(self, t: np.ndarray) -> np.ndarray:
        """∫ sampled power up to each of `t` (from an arbitrary origin): differences give a stretch's shape."""
        times, power = self._times, self._power
        if not len(times):
            return t.astype(float)
        i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
        t0, p0 = times[i], power[i]
        nxt = np.minimum(i + 1, len(times) - 1)
        span = times[nxt] - t0
        at = np.where(span > 0, p0 + (power[nxt] - p0) * (t - t0) / np.where(span > 0, span, 1.0), p0)
        inside = self._integral[i] + (t - t0) * (p0 + at) / 2
        before = (t - times[0]) * power[0]
        after = self._integral[-1] + (t - times[-1]) * power[-1]
        return np.where(t <= times[0], before, np.where(t >= times[-1], after, inside))

    def at_many(self, t: np.ndarray) -> np.ndarray:
        knot_t = np.array([x for x, _ in self.knots], dtype=float)
        knot_c = np.array([c for _, c in self.knots], dtype=float)
        t = np.clip(np.asarray(t, dtype=float), knot_t[0], knot_t[-1])
        i = np.clip(np.searchsorted(knot_t, t, side="right") - 1, 0, max(len(knot_t) - 2, 0))
        t0, t1 = knot_t[i], knot_t[np.minimum(i + 1, len(knot_t) - 1)]
        c0, c1 = knot_c[i], knot_c[np.minimum(i + 1, len(knot_t) - 1)]
        whole = self._shape(t1) - self._shape(t0)
        by_time = np.where(t1 > t0, (t - t0) / np.where(t1 > t0, t1 - t0, 1.0), 1.0)
        fraction = np.where(whole > 0, (self._shape(t) - self._shape(t0)) / np.where(whole > 0, whole, 1.0), by_time)
        return c0 + (c1 - c0) * fraction

    def at(self, t: float) -> float:
        return float(self.at_many(np.array([t]))[0])

    def between(self, a: float, b: float) -> float:
        return self.at(b) - self.at(a)


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
    """Each request's share of one kind's `total_j` (the window's energy); see the module docstring. Computed
    over the stretches with prefix sums, so a load sweep of thousands of token deliveries stays fast."""
    start, end = call
    n = len(requests)
    sents = np.array([max(r.sent_s if r.sent_s is not None else start, start) for r in requests], dtype=float)
    ends = np.array([min(r.end_s if r.end_s is not None else end, end) for r in requests], dtype=float)
    ends = np.maximum(ends, sents)
    firsts = np.array([r.first_s if r.first_s is not None else end for r in requests], dtype=float)
    firsts = np.clip(firsts, sents, ends)  # no output: in prefill to its end
    cuts = [np.array([start, end]), curve._times[(curve._times > start) & (curve._times < end)], sents, ends, firsts]
    cuts += [np.array(r.deliveries_s, dtype=float) for r in requests]
    edges = np.unique(np.clip(np.concatenate(cuts), start, end))
    energy = np.diff(curve.at_many(edges))  # per stretch
    length = np.diff(edges)
    stretches = len(energy)
    first_k, prefill_k, end_k = (np.searchsorted(edges, x) for x in (sents, firsts, ends))  # stretch indices
    in_prefill = np.zeros(stretches + 1)
    in_decode = np.zeros(stretches + 1)
    np.add.at(in_prefill, first_k, 1)
    np.add.at(in_prefill, prefill_k, -1)
    np.add.at(in_decode, prefill_k, 1)
    np.add.at(in_decode, end_k, -1)
    n_p, n_d = np.cumsum(in_prefill)[:-1], np.cumsum(in_decode)[:-1]
    fit = fit_draws(list(zip(length.tolist(), energy.tolist(), n_p.astype(int).tolist(), n_d.astype(int).tolist())),
                    base_w)  # fmt: skip
    flight = n_p + n_d
    busy = flight > 0
    base_part = fit.base_w * length
    own = energy - base_part
    w_p, w_d = (fit.prefill_w, fit.decode_w) if fit.prefill_w + fit.decode_w > 0 else (1.0, 1.0)
    weight = w_p * n_p + w_d * n_d
    equal = weight <= 0  # both draws 0 in this stretch's mix: shared equally
    per_base = np.where(busy, base_part / np.where(busy, flight, 1.0), 0.0)
    per_unit = np.where(busy & ~equal, own / np.where(weight > 0, weight, 1.0), 0.0)
    per_equal = np.where(busy & equal, own / np.where(busy, flight, 1.0), 0.0)
    idle = float(energy[~busy].sum())
    prefix = {name: np.concatenate([[0.0], np.cumsum(values)])
              for name, values in (("base", per_base), ("unit", per_unit), ("equal", per_equal))}  # fmt: skip

    def over(name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return prefix[name][hi] - prefix[name][lo]

    base = over("base", first_k, end_k)
    pre = over("base", first_k, prefill_k) + w_p * over("unit", first_k, prefill_k) + over("equal", first_k, prefill_k)
    dec = over("base", prefill_k, end_k) + w_d * over("unit", prefill_k, end_k) + over("equal", prefill_k, end_k)
    raw = pre + dec
    got = float(raw.sum())
    with_idle = raw + idle * (raw / got if got > 0 else np.full(n, 1 / max(n, 1)))
    whole = float(with_idle.sum())
    scaled = [float(total_j * r / whole) if whole > 0 else total_j / n for r in with_idle]
    if scaled:
        scaled[-1] = total_j - sum(scaled[:-1])  # the shares add up to the window exactly
    return [RequestEnergy(s, float(p), float(d), float(b)) for s, p, d, b in zip(scaled, pre, dec, base)], fit


class InFlight:
    """The events of the requests of one window (one generate call's, or a wave's, registered as they are made)
    and the counters at its edges; after it, each request's share of the window (`shares`). The power samples
    come from the meter's sampler, when it runs."""

    def __init__(self, meter: Meter, requests: int = 0) -> None:
        self.meter = meter
        self.times = [RequestTimes() for _ in range(requests)]
        self._lock = threading.Lock()
        self._first: Reading | None = None
        self._last: Reading | None = None
        sampler = meter.sampler
        self._series = sampler.start_series() if sampler is not None and sampler.running else None
        self._samples: list[tuple[float, dict[str, float]]] = []

    def add(self) -> int:
        """A further request (a wave's requests appear as each question makes them); its index."""
        with self._lock:
            self.times.append(RequestTimes(sent_s=self.meter.clock()))  # in process, a request starts when made
            return len(self.times) - 1

    def begin(self) -> None:
        self._first = self.meter.reading()

    def hook(self, index: int, previous: Callable[[str], None] | None) -> Callable[[str], None]:
        def on_output(event: str) -> None:
            now = self.meter.clock()
            with self._lock:
                times = self.times[index]
                if event == "sent":
                    times.sent_s = now if times.sent_s is None or not times.deliveries_s else times.sent_s
                elif event == "token":
                    times.deliveries_s.append(now)
                elif event == "done" and times.end_s is None:
                    times.end_s = now
            if previous is not None:
                previous(event)

        return on_output

    def end(self) -> None:
        """The call's last edge; the sampler's series is closed here (call it in a `finally`: an open series
        would keep growing at every tick)."""
        if self._series is not None and self.meter.sampler is not None:
            self._samples, self._series = self.meter.sampler.end_series(self._series), None
        self._last = self.meter.reading()

    def shares(self, window: Measurement | None, streamed_only: bool = True) -> list[dict[str, Any]] | None:
        """Per request: per kind of scope the window measured, its RequestEnergy as a dict, and under `scopes`
        its energy on each scope (each scope shared on its own, with its own fit, under `fit`). None when the
        edges were not read, or (`streamed_only`) when no request streamed: its caller then splits by output
        tokens; otherwise requests that streamed nothing are in flight from sent to end. The sampler's series is
        closed by `end`."""
        samples = self._samples
        if window is None or self._first is None or self._last is None:
            return None
        if streamed_only and not any(times.deliveries_s for times in self.times):
            return None  # an engine that streams nothing (an unstreamed server): no phase is known, tokens decide
        start, end = self._first[0], self._last[0]
        for times in self.times:  # an engine that reports no "sent" (in process) starts every request at the call
            if times.sent_s is None:
                times.sent_s = start
            if times.end_s is None:
                times.end_s = end
        out: list[dict[str, Any]] = [{"scopes": {}, "fit": {}} for _ in self.times]
        for scope, total_j in window.energy_j.items():
            knots = [(start, self._first[1].get(scope, 0.0)), (end, self._last[1].get(scope, 0.0))]
            power = [(t, w[scope]) for t, w in samples if scope in w]
            found, fit = attribute(Curve(knots, power), (start, end), self.times, window.idle_power_w.get(scope),
                                   total_j)  # fmt: skip
            kind = scope_kind(scope)
            for record, share in zip(out, found):
                record["scopes"][scope] = share.energy_j
                record["fit"][scope] = {"base_w": fit.base_w, "prefill_w": fit.prefill_w, "decode_w": fit.decode_w,
                                        "fitted": fit.fitted}  # fmt: skip
                summed = record.setdefault(kind, dict.fromkeys(("energy_j", "prefill_energy_j", "decode_energy_j",
                                                                "base_energy_j"), 0.0))  # fmt: skip
                for key, value in share.to_dict().items():
                    summed[key] += value
        return out
