"""Prefill and decode: one request's energy split at its first output token.

The first output token comes out of the forward pass over the prompt, so the stretch from the moment the request
is handed to the engine to its first token is the prefill, and the stretch from there to the end of the call is
the decode. The counters are read at three edges of the call (sent, first token, done), in whatever thread sees
the event: the engine's sampling callback (llama.cpp), its streamer (transformers), or the reader of a streamed
reply (an OpenAI-compatible server, vLLM, whose request counts as sent when it leaves the client, not when the
client is being set up). Each stretch is judged as a window of its own, so a prefill shorter
than the GPU counter's update period is estimated from power and says so.

A split is only made where it means what it says: a generate call that carried one request (batch size 1), with
nothing else in flight on the engine. A batch of requests shares its prefill and decode steps, so it is left
whole. An item of several calls (a WattBot question's planner call, a retry after a blank answer) is split at its
last call, the answer; the other calls stay in the item's window and in neither phase.

For a server, the first token is seen when its chunk arrives, so the edge is late by the network's delivery time
(well under a millisecond on one host); no separate prefill-only pass is made (optimum-benchmark's energy_star
probe measures prefill in a second run with one output token, which doubles the run and measures another
request than the one decoded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wattbench.energy.base import Measurement, Meter, Reading, scope_kind
from wattbench.energy.inflight import InFlight

PREFILL, DECODE = "prefill", "decode"


class PhaseMarks:
    """The counter readings at one item's request edges, and the two phases between them."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self._readings: dict[str, Reading] = {}  # the current call's
        self._lock = threading.Lock()
        self.void: str | None = None  # why the last call is not split
        self._tokens: dict[str, int] = {}  # the last call's request: input and output tokens
        self.inflight: InFlight | None = None  # the last call's, when it carried several requests

    def mark(self, edge: str) -> None:
        """Read the counters at `edge` (call, sent, first_token, done); only the first reading of an edge counts."""
        with self._lock:
            if edge in self._readings:
                return
        reading = self.meter.reading()
        with self._lock:
            self._readings.setdefault(edge, reading)

    def begin(self, requests: int) -> bool:
        """A generate call of `requests` requests starts: each call starts afresh, so an item's last call is the
        one split. True when it is split (one request); the counters are read at the call now."""
        with self._lock:
            self._readings, self.void, self._tokens = {}, None, {}
        self.inflight = None
        if requests != 1:
            self.void = "several requests share the call's prefill and decode steps"
            return False
        self.mark("call")
        return True

    def on_output(self, previous: Callable[[str], None] | None) -> Callable[[str], None]:
        """The request's output callback, reading the counters at its edges before calling `previous`."""

        def on_output(event: str) -> None:
            if event in ("sent", "token"):  # "sent": a server engine's request left (after its client set-up)
                self.mark("first_token" if event == "token" else "sent")
            if previous is not None:
                previous(event)

        return on_output

    def end(self, *, retried: bool, input_tokens: int | None, output_tokens: int | None) -> None:
        """The split call returned: `retried` (the prefill was made more than once), and its request's tokens."""
        self.mark("done")
        if retried:
            self.void = "the request was retried (the prefill was made more than once)"
        if input_tokens is not None and output_tokens is not None:
            self._tokens = {"input": input_tokens, "output": output_tokens}

    def phases(self) -> dict[str, Measurement]:
        """{prefill, decode} of the item's last call when it was split; empty otherwise (a batch of requests, a
        retried request, or an engine that reported no first token)."""
        sent = self._readings.get("sent") or self._readings.get("call")  # in process, the call is the request
        edges = [sent, self._readings.get("first_token"), self._readings.get("done")]
        if self.void is not None or any(edge is None for edge in edges):
            return {}
        sent, first, done = edges
        assert sent is not None and first is not None and done is not None
        prefill, decode = self.meter.between(PREFILL, sent, first), self.meter.between(DECODE, first, done)
        prefill.tokens, decode.tokens = dict(self._tokens), dict(self._tokens)
        return {PREFILL: prefill, DECODE: decode}

    def shares(self, window: Measurement | None) -> list[dict[str, Any]] | None:
        """Each request's share of the item's window, per kind of scope (energy/inflight.py): a lone request
        gets the whole window with the split above; several in flight, the in-flight rule. None when the last
        call was neither (a lone request that reported no first token, an engine that cannot tell)."""
        if self.inflight is not None:
            return self.inflight.shares(window)
        if window is None or not window.phases:
            return None
        share: dict[str, Any] = {}
        for kind, total_j in window.totals_j().items():
            prefill_j, decode_j = window.phases[PREFILL].total_j(kind), window.phases[DECODE].total_j(kind)
            if total_j is None or prefill_j is None or decode_j is None:
                continue
            idle_w = sum(w for s, w in window.idle_power_w.items() if scope_kind(s) == kind)
            share[kind] = {"energy_j": total_j, "prefill_energy_j": prefill_j, "decode_energy_j": decode_j,
                           "base_energy_j": min(idle_w * window.duration_s, total_j)}  # fmt: skip
        return [share] if share else None


@dataclass
class PhaseTotals:
    """One kind of scope's prefill and decode over the split items."""

    items: int = 0
    prefill_j: float = 0.0
    decode_j: float = 0.0
    input_tokens: int = 0
    decoded_tokens: int = 0
    """Output tokens after each item's first, which the prefill produced: what the decode stretch generated."""

    def add(self, prefill_j: float, decode_j: float, input_tokens: int, output_tokens: int) -> None:
        """One split item: its two stretches' energy and its request's tokens (the first output token is the
        prefill's, so the decode is charged with the others only)."""
        self.items += 1
        self.prefill_j += prefill_j
        self.decode_j += decode_j
        self.input_tokens += input_tokens
        self.decoded_tokens += max(output_tokens - 1, 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "prefill_energy_j": self.prefill_j,
            "decode_energy_j": self.decode_j,
            "input_tokens": self.input_tokens,
            "decoded_tokens": self.decoded_tokens,
            "prefill_j_per_input_token": self.prefill_j / self.input_tokens if self.input_tokens else None,
            "decode_j_per_output_token": self.decode_j / self.decoded_tokens if self.decoded_tokens else None,
        }


def phase_figures(items: list[tuple[dict[str, Any] | None, int | None, int | None]]) -> dict[str, Any]:
    """Per kind of scope (gpu, cpu, dram), the prefill and decode energy summed over the answered items whose
    window was split, with J per input token and J per decoded output token. `items`: (the window's phases as
    stored, prompt tokens, completion tokens) of each answered item; the split request's own counts win where the
    phases carry them (a question's record also counts its planner call). A kind is left out when any split item
    lacks it, so a sum is never silently smaller."""
    split = [(phases, prompt, completion) for phases, prompt, completion in items if phases]
    if not split:
        return {"split_items": 0, "unsplit_items": len(items), "by_kind": {}}
    parts = []
    for p, prompt, completion in split:
        pre, dec = Measurement.from_dict(p[PREFILL]), Measurement.from_dict(p[DECODE])
        prompt = pre.tokens.get("input", prompt)
        completion = pre.tokens.get("output", completion)
        parts.append((pre, dec, prompt or 0, completion or 0))
    kinds = set.intersection(*({*pre.totals_j(), *dec.totals_j()} for pre, dec, _, _ in parts))
    by_kind: dict[str, Any] = {}
    for kind in sorted(kinds):
        totals = PhaseTotals()
        for pre, dec, prompt_tokens, output_tokens in parts:
            pre_j, dec_j = pre.total_j(kind), dec.total_j(kind)
            if pre_j is None or dec_j is None:
                break
            totals.add(pre_j, dec_j, prompt_tokens, output_tokens)
        else:
            by_kind[kind] = totals.to_dict()
    return {"split_items": len(split), "unsplit_items": len(items) - len(split), "by_kind": by_kind}


def methods_text(window: Measurement | None) -> str | None:
    """How a window was measured, as records and master rows write it: its distinct methods, comma-separated."""
    methods = sorted(set(window.method.values())) if window is not None else []
    return ",".join(methods) or None


def phase_methods_text(window: Measurement | None) -> str | None:
    """The same for a split window's prefill and decode together (None when it was not split)."""
    if window is None or not window.phases:
        return None
    return ",".join(sorted({m for part in window.phases.values() for m in part.method.values()})) or None


def window_warnings(window: Measurement | None) -> list[str]:
    """A window's warnings with its prefill's and decode's (a prefill estimated from power says so there)."""
    if window is None:
        return []
    parts = [w for part in window.phases.values() for w in part.warnings]
    return list(dict.fromkeys([*window.warnings, *parts]))


def gpu_phase_j(window: Measurement | None) -> tuple[float | None, float | None]:
    """(prefill, decode) GPU energy of one split window; (None, None) when it was not split or no GPU was read."""
    if window is None or not window.phases:
        return None, None
    return window.phases[PREFILL].total_j("gpu"), window.phases[DECODE].total_j("gpu")
