"""The steady-state window of a load run, the ML.ENERGY way.

N requests run with at most B in flight. The engine is at its steady batch size from the moment B requests have
received their first token (the batch is full and decoding) to the moment N - B requests have finished (after
that, fewer than B remain and the batch drains). The meter window is opened and closed at those two moments, as
they happen, and the output tokens counted are the ones delivered inside it; so J per output token is the
engine's at batch size B, without the ramp-up or the drain.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from wattbench.energy.base import Measurement, Meter


@dataclass
class Trace:
    """When one request's output arrived (time.perf_counter) and when it ended."""

    token_s: list[float] = field(default_factory=list)
    done_s: float | None = None


class SteadyWindow:
    """Hooks for N requests (GenerationRequest.on_output) that open the meter window at the B-th first token and
    close it at the (N - B)-th finish."""

    def __init__(self, meter: Meter, in_flight: int, total: int, clock: Callable[[], float] = time.perf_counter):
        if total < 2 * in_flight:
            raise ValueError(f"{total} requests at batch size {in_flight}: a steady state needs at least "
                             f"{2 * in_flight} (twice the batch size)")  # fmt: skip
        self.meter, self.in_flight, self.total, self.clock = meter, in_flight, total, clock
        self.traces = [Trace() for _ in range(total)]
        self.start_s: float | None = None
        self.end_s: float | None = None
        self.measurement: Measurement | None = None
        self.problem: str | None = None
        self._firsts = self._done = 0
        self._stack = ExitStack()
        self._window: Any = None
        self._lock = threading.Lock()  # engines may call hooks from their own threads

    def hook(self, index: int) -> Callable[[str], None]:
        def on_output(event: str) -> None:
            with self._lock:
                now, trace = self.clock(), self.traces[index]
                if event == "token":
                    if not trace.token_s:
                        self._firsts += 1
                        if self._firsts == self.in_flight:
                            self._open(now)
                    trace.token_s.append(now)
                elif event == "done" and trace.done_s is None:
                    trace.done_s = now
                    self._done += 1
                    if self._done == self.total - self.in_flight:
                        self._close(now)

        return on_output

    def _open(self, now: float) -> None:
        if self.end_s is None:
            self.start_s = now
            self._window = self._stack.enter_context(self.meter.window(f"steady state, batch {self.in_flight}"))

    def _close(self, now: float) -> None:
        if self.start_s is None:
            self.problem = (f"{self.total - self.in_flight} requests finished before {self.in_flight} had their "
                            "first token: the batch never filled")  # fmt: skip
            self.end_s = now
            return
        self.end_s = now
        self._stack.close()
        self.measurement = self._window.result

    def finish(self) -> None:
        """After the run: a window still open (requests failed before N - B finished) is closed and flagged."""
        if self.start_s is not None and self.measurement is None:
            self.problem = "the run ended before the steady state did (requests failed)"
            self._stack.close()
            self.end_s = self.clock()

    def tokens_in_window(self, counts: list[int | None]) -> float:
        """Output tokens delivered inside the window: each request's chunks inside it, each chunk worth the
        request's token count over its chunks (a server may send several tokens in one chunk)."""
        if self.start_s is None or self.end_s is None:
            return 0.0
        total = 0.0
        for trace, count in zip(self.traces, counts):
            if not trace.token_s:
                continue
            per_chunk = (count if count is not None else len(trace.token_s)) / len(trace.token_s)
            inside = sum(1 for t in trace.token_s if self.start_s <= t <= self.end_s)
            total += inside * per_chunk
        return total
