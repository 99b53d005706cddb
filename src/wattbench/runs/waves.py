"""Items in waves of several at once, for a server engine that serves requests concurrently (a WattBot run with
`generation.max_concurrent > 1`).

Each wave of up to `in_flight` items runs in one meter window: every item's exchange is carried in a thread of
its own, every request any of them makes is timed (energy/inflight.py), and when the wave is done the window is
shared out among its requests by the in-flight rule. An item's energy is the sum of its requests' shares (its
planner call, its answer, a retry), scope by scope, and its record gets a window of its own built from them, so
every figure that reads per-item windows (per-question energy, compare, reports) reads these. Results are stored
after the wave, in the items' order: a crash loses at most the wave in flight, and a rerun asks it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from wattbench.backends.base import Backend, Completion, GenerationRequest
from wattbench.energy.base import Measurement, Meter
from wattbench.energy.inflight import RULE, InFlight
from wattbench.errors import WattbenchError
from wattbench.runs.loop import drive
from wattbench.tasks.base import Task

OnResult = Callable[[Any, Any, Measurement | None], None]


class _Timed:
    """The engine as one item's exchange sees it: each request registered with the wave's tracker."""

    def __init__(self, backend: Backend, tracker: InFlight, calls: list[list[int]]) -> None:
        self.backend, self.tracker, self.calls = backend, tracker, calls

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        indices = [self.tracker.add() for _ in requests]
        self.calls.append(indices)
        hooked = [replace(r, on_output=self.tracker.hook(i, r.on_output)) for i, r in zip(indices, requests)]
        return self.backend.generate(hooked)


def item_window(
    window: Measurement | None, shares: list[dict[str, Any]] | None, calls: list[list[int]], label: str, wave: int,
    span_s: float | None = None,
) -> Measurement | None:  # fmt: skip
    """One item's window: its requests' shares of the wave's window, scope by scope, with the wave's methods,
    warnings and sharing; `requests` holds its last call's shares (its answer's prefill and decode)."""
    if window is None:
        return None
    mine = [i for call in calls for i in call]
    if shares is None or not mine:
        # Nothing to share by (no request streamed, or the item made none): an equal part of the wave.
        energy = {scope: joules / wave for scope, joules in window.energy_j.items()}
        last: list[dict[str, Any]] = []
    else:
        energy = {scope: sum(shares[i]["scopes"].get(scope, 0.0) for i in mine) for scope in window.energy_j}
        last = [shares[i] for i in calls[-1]]
    return Measurement(
        label=f"{label} ({RULE} share of {wave})", duration_s=span_s if span_s is not None else window.duration_s,
        energy_j=energy,
        method=dict(window.method), unavailable=dict(window.unavailable), idle_power_w=dict(window.idle_power_w),
        warnings=list(window.warnings), power_reading=dict(window.power_reading), shared_gpu=list(window.shared_gpu),
        requests=last,
    )  # fmt: skip


def _span_s(tracker: InFlight, calls: list[list[int]]) -> float | None:
    """From an item's first request sent to its last one ended: the item's own time in the wave."""
    times = [tracker.times[i] for call in calls for i in call]
    sent = [t.sent_s for t in times if t.sent_s is not None]
    ended = [t.end_s for t in times if t.end_s is not None]
    return max(ended) - min(sent) if sent and ended else None


def run_waves(
    task: Task,
    items: list[Any],
    backend: Backend,
    meter: Meter,
    on_result: OnResult,
    *,
    in_flight: int,
    max_consecutive_failures: int,
    limit_name: str,
    stop: Callable[[], bool] = lambda: False,
    judge_last: bool = False,
) -> str | None:
    """As runs/loop.run_items, the items `in_flight` at a time; why the run stopped on failures, else None."""
    in_a_row = 0
    for start in range(0, len(items), in_flight):
        wave = items[start : start + in_flight]
        tracker = InFlight(meter)
        calls: list[list[list[int]]] = [[] for _ in wave]
        results: list[Any] = [None] * len(wave)
        fatal: list[BaseException] = []

        def work(j: int, item: Any) -> None:
            try:
                results[j] = drive(task.start(item), cast(Backend, _Timed(backend, tracker, calls[j])))
            except (KeyboardInterrupt, WattbenchError) as exc:  # a refused key, bad input: the run stops
                fatal.append(exc)
            except Exception as exc:  # one item's failure never stops the run
                results[j] = task.failed(item, exc)

        with meter.window(f"{len(wave)} {task.unit} in flight") as window:
            tracker.begin()
            threads = [threading.Thread(target=work, args=(j, item), daemon=True) for j, item in enumerate(wave)]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    thread.join()
            finally:
                tracker.end()
        if fatal:
            raise fatal[0]
        shares = tracker.shares(window.result, streamed_only=False)
        for j, item in enumerate(wave):
            span = _span_s(tracker, calls[j])
            on_result(
                item, results[j], item_window(window.result, shares, calls[j], task.window(item), len(wave), span)
            )
            for error in task.errors(results[j]):
                in_a_row = in_a_row + 1 if error else 0
        done = start + len(wave)
        if in_a_row >= max_consecutive_failures and (judge_last or done < len(items)):
            last = next((e for r in reversed(results) for e in reversed(task.errors(r)) if e), "")
            return f"stopped after {in_a_row} failed {task.unit} in a row ({limit_name}); last error: {last}"
        if stop():
            return None
    return None
