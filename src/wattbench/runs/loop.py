"""The one loop that drives any task through a backend under a meter: each item in its own meter window, its
exchange of requests and completions carried to the end, its result handed to the caller to store, and the run
stopped after too many failures in a row (a dead or refusing server)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from wattbench.backends.base import Backend, Completion, GenerationRequest
from wattbench.backends.usage import check_usage
from wattbench.energy.base import Measurement, Meter
from wattbench.energy.inflight import InFlight
from wattbench.energy.phases import PhaseMarks
from wattbench.errors import WattbenchError
from wattbench.tasks.base import Exchange, Task

OnResult = Callable[[Any, Any, Measurement | None], None]
"""(item, result, the item's meter window) → stores the result."""


def marked_generate(backend: Backend, requests: list[GenerationRequest], marks: PhaseMarks) -> list[Completion]:
    """`backend.generate(requests)` with the counters read at the request's edges (sent, first token, done) when
    the call is one request: the prefill and decode of energy/phases.py. The loop takes the marks; the meter
    never drives the engine."""
    if not marks.begin(len(requests)):
        # Several requests share the engine: their events are timed for the in-flight rule (energy/inflight.py).
        tracker = marks.inflight = InFlight(marks.meter, len(requests))
        hooked = [replace(r, on_output=tracker.hook(i, r.on_output)) for i, r in enumerate(requests)]
        tracker.begin()
        try:
            return backend.generate(hooked)
        finally:
            tracker.end()
    request = replace(requests[0], on_output=marks.on_output(requests[0].on_output))
    completions = backend.generate([request])
    done = completions[0] if completions else None
    marks.end(retried=any(c.attempts > 1 for c in completions),
              input_tokens=done.prompt_tokens if done else None,
              output_tokens=done.completion_tokens if done else None)  # fmt: skip
    return completions


def drive(exchange: Exchange[Any], backend: Backend, marks: PhaseMarks | None = None) -> Any:
    """Carry one item's exchange to its end: each batch of requests to the backend, the completions back;
    with `marks`, the counters are read at the request's edges (prefill and decode, energy/phases.py)."""
    generate = backend.generate if marks is None else (lambda requests: marked_generate(backend, requests, marks))
    try:
        requests = next(exchange)
        while True:
            completions = [check_usage(r, c) for r, c in zip(requests, generate(requests), strict=True)]
            requests = exchange.send(completions)
    except StopIteration as done:
        return done.value


def run_items(
    task: Task,
    items: Iterable[Any],
    backend: Backend,
    meter: Meter,
    on_result: OnResult,
    *,
    max_consecutive_failures: int,
    limit_name: str,
    stop: Callable[[], bool] = lambda: False,
    judge_last: bool = False,
    in_flight: int = 1,
) -> str | None:
    """Every item in order until `stop()` says so; returns why the run stopped on failures, else None.
    `in_flight` > 1: the items in waves of that many at once (runs/waves.py).
    `judge_last`: failures that end the items count too (a batch run whose last prompts all failed failed;
    a WattBot run whose last questions failed is partial, and a rerun retries them).
    A refused key (AuthError), bad input (WattbenchError) and Ctrl-C end the loop at once; any other exception
    is that item's failure only."""
    pending = list(items)
    if in_flight > 1:
        from wattbench.runs.waves import run_waves

        return run_waves(task, pending, backend, meter, on_result, in_flight=in_flight,
                         max_consecutive_failures=max_consecutive_failures, limit_name=limit_name, stop=stop,
                         judge_last=judge_last)  # fmt: skip
    in_a_row = 0
    split = meter.measures_anything()  # three counter reads per item, only where there are counters
    for done, item in enumerate(pending, start=1):
        measured: Measurement | None = None
        try:
            marks = PhaseMarks(meter) if split else None
            with meter.window(task.window(item)) as window:
                result = drive(task.start(item), backend, marks)
            measured = window.result
            if measured is not None and marks is not None:
                measured.phases = marks.phases()
                measured.requests = marks.shares(measured) or []
        except (KeyboardInterrupt, WattbenchError):  # a refused key (AuthError) among them
            raise
        except Exception as exc:  # one item's failure never stops the run
            result = task.failed(item, exc)
        on_result(item, result, measured)
        errors = task.errors(result)
        for error in errors:
            in_a_row = in_a_row + 1 if error else 0
        if in_a_row >= max_consecutive_failures and (judge_last or done < len(pending)):
            last = next((e for e in reversed(errors) if e), "")
            return f"stopped after {in_a_row} failed {task.unit} in a row ({limit_name}); last error: {last}"
        if stop():
            return None
    return None
