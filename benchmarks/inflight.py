"""How far each rule's per-request energy is from the truth, on simulated calls (energy/inflight.py).

A call of N requests in flight on one engine is simulated with known power: base 70 W, plus 250 W for each
request in its prefill and 40 W for each in its decode (additive), or the same requests' part bent so the GPU
cannot draw more than 500 W above its base (saturating: the part of d watts becomes 500 (1 - exp(-d/500))).
Requests arrive about N at a time (Poisson, the engine kept near N in flight), each with a prefill of 20 ms +
0.2 ms per input token (100-2,000 tokens) and 20-400 output tokens 20 ms apart. The meter sees what wattbench
sees: the counter at the call's edges, the power sampled at 10 Hz or 100 Hz, each request's sent time, token
arrivals and end.

The truth per request: under the additive model, its own draw plus an equal share of the base with the requests
in flight beside it (the rule's own convention for the base); under saturation, where no additive truth exists,
the requests' part at each instant shared in proportion to what each would draw in its phase; either way, the
base while nothing is in flight shared in proportion to the rest, as the rule does. Reported: the
median and 90th percentile of |error| / truth over requests, for the in-flight rule and for the output-token
split used before (energy by output tokens), with the 90% range over 20 seeded calls.
Run: python benchmarks/inflight.py
"""

from __future__ import annotations

import math
import platform

import numpy as np

from wattbench.energy.inflight import Curve, RequestTimes, attribute

BASE_W, PREFILL_W, DECODE_W, SATURATE_W = 70.0, 250.0, 40.0, 500.0
ITL_S = 0.02


def simulate(n: int, seed: int) -> tuple[list[RequestTimes], list[tuple[float, float, float]], list[int]]:
    """Requests (times) and their (sent, first, end), output tokens."""
    rng = np.random.default_rng(seed)
    spans, times, tokens = [], [], []
    t = 0.0
    for _ in range(4 * n):
        t += rng.exponential(4.4 / n)  # a request lasts about 4.4 s: arrivals keep about n in flight (Little)
        prefill = 0.02 + 0.0002 * rng.integers(100, 2000)
        out = int(rng.integers(20, 400))
        first = t + prefill
        deliveries = [first + ITL_S * k for k in range(out)]
        spans.append((t, first, deliveries[-1]))
        times.append(RequestTimes(t, deliveries, deliveries[-1]))
        tokens.append(out)
    return times, spans, tokens


def requests_w(prefill: int, decode: int, saturate: bool) -> float:
    part = PREFILL_W * prefill + DECODE_W * decode
    return SATURATE_W * (1 - math.exp(-part / SATURATE_W)) if saturate else part


def truth(spans: list[tuple[float, float, float]], saturate: bool) -> tuple[list[float], float, list[float], list]:
    """Per request its true energy; the call's total; the event times; (t, power) at each event."""
    edges = sorted({x for span in spans for x in span})
    owed = [0.0] * len(spans)
    total = 0.0
    idle = 0.0
    for a, b in zip(edges, edges[1:]):
        flight = [i for i, (s, _, e) in enumerate(spans) if s <= a and e >= b]
        if not flight:
            idle += BASE_W * (b - a)
            total += BASE_W * (b - a)
            continue
        prefill = [i for i in flight if spans[i][1] >= b]
        part = requests_w(len(prefill), len(flight) - len(prefill), saturate)
        total += (BASE_W + part) * (b - a)
        nominal = PREFILL_W * len(prefill) + DECODE_W * (len(flight) - len(prefill))
        for i in flight:
            mine = PREFILL_W if i in prefill else DECODE_W
            owed[i] += (b - a) * (BASE_W / len(flight) + part * mine / nominal)
    busy = sum(owed)
    owed = [o + idle * o / busy for o in owed]  # stretches with nothing in flight: shared as the rule shares them
    return owed, total, edges, []


def power_at(spans: list[tuple[float, float, float]], t: float, saturate: bool) -> float:
    prefill = sum(1 for s, f, e in spans if s <= t < f)
    decode = sum(1 for s, f, e in spans if f <= t < e)
    return BASE_W + requests_w(prefill, decode, saturate)


def errors(n: int, seed: int, hz: float, saturate: bool) -> tuple[np.ndarray, np.ndarray]:
    times, spans, tokens = simulate(n, seed)
    owed, total, _, _ = truth(spans, saturate)
    start, end = min(s for s, _, _ in spans), max(e for _, _, e in spans)
    # Power read every 1/hz s and the counter at the edges; the idle baseline known, as after a run's warm-up.
    samples = [(t, power_at(spans, t, saturate)) for t in np.arange(start, end, 1 / hz)]
    curve = Curve([(start, 0.0), (end, total)], samples)
    found, _ = attribute(curve, (start, end), times, BASE_W, total)
    in_flight = np.array([r.energy_j for r in found])
    by_tokens = total * np.array(tokens) / sum(tokens)
    owed_a = np.array(owed)
    return np.abs(in_flight - owed_a) / owed_a, np.abs(by_tokens - owed_a) / owed_a


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, numpy {np.__version__}")
    print("| requests in flight | power | sampler | rule | median error | p90 error |")
    print("|---|---|---|---|---|---|")
    for saturate in (False, True):
        for n in (1, 4, 16, 64):
            for hz in (10.0, 100.0):
                runs = [errors(n, seed, hz, saturate) for seed in range(20)]
                for index, rule in enumerate(("in-flight", "output tokens")):
                    if rule == "output tokens" and hz == 100.0:
                        continue  # the token split does not read power
                    medians = [np.median(r[index]) for r in runs]
                    p90s = [np.percentile(r[index], 90) for r in runs]
                    median_lo, median_hi = np.percentile(medians, [5, 95])
                    p90_lo, p90_hi = np.percentile(p90s, [5, 95])
                    print(f"| {n} | {'saturating' if saturate else 'additive'} | {hz:.0f} Hz | {rule} | "
                          f"{np.median(medians):.1%} [{median_lo:.1%}, {median_hi:.1%}] | "
                          f"{np.median(p90s):.1%} [{p90_lo:.1%}, {p90_hi:.1%}] |")  # fmt: skip


if __name__ == "__main__":
    main()
