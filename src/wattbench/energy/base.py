"""Measurements and the meter that takes them.

A `Source` (NVML, RAPL) keeps one cumulative energy counter per scope (`gpu:0`, `cpu:package-0`, `dram:0`),
updated by `poll()`, which handles counter wrap-around and resets. A window is two snapshots of those counters
and a subtraction, so windows are cheap, may nest, and may be opened per batch. Scopes a source cannot measure
are listed in `unavailable` with the reason; an unknown value is absent (None), never 0.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

CONCURRENT_RUNS = "WATTBENCH_CONCURRENT_RUNS"
"""Set by an executor that runs jobs side by side: how many runs may share this machine's CPU package, whose
RAPL energy is one figure for all of them."""

Clock = Callable[[], float]
Reading = tuple[float, dict[str, float], list[dict[str, Any]]]
"""(time, cumulative joules per scope, each source's snapshot): one poll of every source."""


def scope_kind(scope: str) -> str:
    """`gpu:0` → `gpu`, `cpu:package-0` → `cpu`, `dram:0` → `dram`."""
    return scope.split(":", 1)[0]


class SourceUnavailable(Exception):
    """A source cannot measure here: `scope` (gpu, cpu) is what goes unmeasured, the message says why."""

    def __init__(self, scope: str, reason: str) -> None:
        super().__init__(reason)
        self.scope = scope


@dataclass
class Verdict:
    """What a source says about one window beyond its counters: scopes to replace (an estimate where the counter
    cannot resolve the window), scopes unknown in it (a failed read), and warnings."""

    energy_j: dict[str, float] = field(default_factory=dict)
    method: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    shared: list[dict[str, Any]] = field(default_factory=list)
    """Processes other than the run's seen on its GPUs during the window (energy/gpu_processes.py)."""


class Source(Protocol):
    """One kind of energy counter (all GPUs of NVML, all RAPL zones)."""

    name: str

    def scopes(self) -> list[str]:
        """Scopes this source measures."""

    def unavailable(self) -> dict[str, str]:
        """Scopes this source cannot measure, with the reason."""

    def methods(self) -> dict[str, str]:
        """How each scope is measured (`nvml_counter`, `nvml_power_sampling`, `rapl`, ...)."""

    def poll(self, now_s: float) -> None:
        """Read the hardware and advance the cumulative counters (called by windows and by the sampler)."""

    def cumulative_j(self) -> dict[str, float]:
        """Energy per scope since the source was opened, in joules."""

    def warnings(self) -> list[str]:
        """Events such as counter resets, drained (returned once)."""

    # Optional, for sources that know more about a window than two counter readings (NVML, RAPL):
    # `snapshot() -> dict` taken with each window edge's poll, and `judge(before, after, duration_s) -> Verdict`
    # (scopes unknown in the window because a read failed, estimates, warnings).


@dataclass
class Measurement:
    """Energy over one window (or the sum of several). Scopes absent from `energy_j` were not measured."""

    label: str
    duration_s: float
    energy_j: dict[str, float] = field(default_factory=dict)
    method: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    peak_power_w: dict[str, float] = field(default_factory=dict)
    idle_power_w: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sessions: int = 1
    power_stdev_w: dict[str, float] = field(default_factory=dict)
    """Spread (standard deviation) of the sampled power over the window, per scope; the idle baseline's says how
    steady the machine was when it was taken."""
    power_reading: dict[str, str] = field(default_factory=dict)
    """Per GPU scope, which power reading backs its estimates and checks: instant (NVML_FI_DEV_POWER_INSTANT) or
    average (nvmlDeviceGetPowerUsage, a 1-second average on Ampere and newer)."""
    tokens: dict[str, int] = field(default_factory=dict)
    """A phase's request: its input and output token counts (the item's record may also count other calls)."""
    phases: dict[str, Measurement] = field(default_factory=dict)
    """One request's window split at its first token (energy/phases.py): prefill and decode; empty when the
    window was not split. A sum of windows has no phases of its own."""
    shared_gpu: list[dict[str, Any]] = field(default_factory=list)
    """Processes other than the run's seen on a measured GPU during the window (pid, name, memory): its energy
    is in the figure (energy/gpu_processes.py). Empty: none seen (or the driver lists none)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Each request's share of the window's last generate call, per kind of scope (energy/inflight.py), for the
    run to put in each request's record; not written with the window itself."""

    @property
    def avg_power_w(self) -> dict[str, float]:
        if self.duration_s <= 0:
            return {}
        return {scope: joules / self.duration_s for scope, joules in self.energy_j.items()}

    @property
    def energy_net_of_idle_j(self) -> dict[str, float]:
        """Energy above the idle baseline; only for scopes with both a measurement and a baseline."""
        return {
            scope: joules - self.idle_power_w[scope] * self.duration_s
            for scope, joules in self.energy_j.items()
            if scope in self.idle_power_w
        }

    def total_j(self, kind: str) -> float | None:
        """Sum over the scopes of one kind (`gpu`, `cpu`, `dram`); None when none of them was measured."""
        values = [j for scope, j in self.energy_j.items() if scope_kind(scope) == kind]
        return sum(values) if values else None

    def totals_j(self) -> dict[str, float | None]:
        kinds = {scope_kind(s) for s in (*self.energy_j, *self.unavailable)}
        return {kind: self.total_j(kind) for kind in sorted(kinds)}

    def __add__(self, other: Measurement) -> Measurement:
        """Sum of two windows or sessions. A scope measured in one and not the other is unknown in the sum."""
        scopes = set(self.energy_j) | set(other.energy_j)
        energy, unavailable = {}, {**self.unavailable, **other.unavailable}
        for scope in scopes:
            if scope in self.energy_j and scope in other.energy_j:
                energy[scope] = self.energy_j[scope] + other.energy_j[scope]
            else:
                unavailable[scope] = "measured in only some of the summed windows or sessions"
        for scope in energy:
            unavailable.pop(scope, None)
        duration = self.duration_s + other.duration_s
        idle = {}
        for scope in set(self.idle_power_w) & set(other.idle_power_w):  # duration-weighted mean baseline
            idle[scope] = (
                (self.idle_power_w[scope] * self.duration_s + other.idle_power_w[scope] * other.duration_s) / duration
                if duration > 0
                else self.idle_power_w[scope]
            )
        return Measurement(
            label=self.label if self.label == other.label else f"{self.label}+{other.label}",
            duration_s=duration,
            energy_j=energy,
            method={**other.method, **self.method},
            unavailable=unavailable,
            peak_power_w={
                s: max(self.peak_power_w.get(s, 0.0), other.peak_power_w.get(s, 0.0))
                for s in set(self.peak_power_w) | set(other.peak_power_w)
            },
            idle_power_w=idle,
            warnings=[*self.warnings, *other.warnings],
            sessions=self.sessions + other.sessions,
            power_reading={**other.power_reading, **self.power_reading},
            shared_gpu=_union(self.shared_gpu, other.shared_gpu),
        )

    def only(self, keep: Callable[[str], bool], reasons: dict[str, str]) -> Measurement:
        """This measurement restricted to the scopes `keep` accepts (a run's own devices); `reasons` say, per
        kind (gpu, cpu, dram), why the scopes left out are not the run's energy."""
        unavailable = {s: why for s, why in self.unavailable.items() if scope_kind(s) not in reasons}
        return Measurement(
            label=self.label,
            duration_s=self.duration_s,
            energy_j={s: j for s, j in self.energy_j.items() if keep(s)},
            method={s: m for s, m in self.method.items() if keep(s)},
            unavailable={s: why for s, why in unavailable.items() if keep(s) or ":" not in s} | reasons,
            peak_power_w={s: w for s, w in self.peak_power_w.items() if keep(s)},
            idle_power_w={s: w for s, w in self.idle_power_w.items() if keep(s)},
            warnings=[w for w in self.warnings if keep(_warning_scope(w) or "all")],
            sessions=self.sessions,
            power_reading={s: k for s, k in self.power_reading.items() if keep(s)},
            power_stdev_w={s: w for s, w in self.power_stdev_w.items() if keep(s)},
            tokens=dict(self.tokens),
            phases={name: part.only(keep, reasons) for name, part in self.phases.items()},
            shared_gpu=[p for p in self.shared_gpu if keep(str(p.get("scope")))],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form for summary.json; totals and derived powers are included for readers, and ignored on load."""
        return {
            "label": self.label,
            "duration_s": self.duration_s,
            "energy_j": self.energy_j,
            "energy_j_by_kind": self.totals_j(),
            "avg_power_w": self.avg_power_w,
            "peak_power_w": self.peak_power_w,
            "idle_power_w": self.idle_power_w,
            "energy_net_of_idle_j": self.energy_net_of_idle_j,
            "method": self.method,
            "unavailable": self.unavailable,
            "warnings": self.warnings,
            "sessions": self.sessions,
            "power_reading": self.power_reading,
            "power_stdev_w": self.power_stdev_w,
            **({"tokens": self.tokens} if self.tokens else {}),
            **({"shared_gpu": self.shared_gpu} if self.shared_gpu else {}),
            **({"phases": {name: part.to_dict() for name, part in self.phases.items()}} if self.phases else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        keys = (
            "label",
            "duration_s",
            "energy_j",
            "method",
            "unavailable",
            "peak_power_w",
            "idle_power_w",
            "warnings",
            "sessions",
            "power_reading",
            "power_stdev_w",
            "tokens",
            "shared_gpu",
        )
        phases = {name: cls.from_dict(part) for name, part in (data.get("phases") or {}).items()}
        return cls(**{k: data[k] for k in keys if k in data}, phases=phases)


class Window:
    """An open measurement window; `result` is set when the `with` block ends."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.result: Measurement | None = None

    def record(self) -> dict[str, Any]:
        """The finished window's measurement as stored in a run dir."""
        if self.result is None:
            raise RuntimeError(f"window {self.label!r} is still open")
        return self.result.to_dict()


class Meter:
    """Measures windows over a set of sources; with a sampler it also records peaks and the power timeline."""

    def __init__(
        self,
        sources: list[Source],
        *,
        clock: Clock = time.monotonic,
        sampler=None,
        unavailable: dict[str, str] | None = None,
    ) -> None:
        self.sources = sources
        self.clock = clock
        self.sampler = sampler
        self.idle_power_w: dict[str, float] = {}
        self.setup_warnings: list[str] = []  # e.g. how CUDA_VISIBLE_DEVICES was read
        self._unavailable = dict(unavailable or {})
        self._lock = threading.Lock()  # windows and the sampler thread both poll the sources
        self._focus: tuple[Callable[[str], bool], dict[str, str]] | None = None
        # Source warnings (a counter reset) are drained by the innermost window that closes after them; each open
        # window collects those its inner windows drained, so the row's or run's window has them too.
        self._inherited: dict[int, list[str]] = {}
        self._next_window = 0
        self.remote_gpus = False  # a meter agent's GPUs (energy/remote.py): the run's by the user's choice

    def focus(self, keep: Callable[[str], bool] | None, reasons: dict[str, str] | None = None) -> None:
        """From now on, windows report only the scopes `keep` accepts (the devices the engine holds), with
        `reasons` for the kinds left out; None measures everything again (the next model of a batch)."""
        if self.remote_gpus and keep is not None:
            # The device rule cannot see another host's GPUs; the agent serves the ones the user named.
            keep = lambda scope: scope_kind(scope) == "gpu"  # noqa: E731
            reasons = {kind: why for kind, why in (reasons or {}).items() if kind != "gpu"}
        self._focus = None if keep is None else (keep, dict(reasons or {}))

    def own_processes(self, also: Callable[[], set[int]]) -> None:
        """The engine's processes beyond this one's tree (a server on this machine the run talks to): not
        another user of the GPUs (energy/gpu_processes.py)."""
        for source in self.sources:
            watch = getattr(source, "processes", None)
            if watch is not None:
                watch.set_engine(also)

    def measures_anything(self) -> bool:
        """Whether any scope is measured for the run (after `focus`: of the engine's own devices)."""
        keep = self._focus[0] if self._focus is not None else (lambda scope: True)
        return any(keep(scope) for source in self.sources for scope in source.scopes())

    def scoped(self, measurement: Measurement) -> Measurement:
        """A measurement taken before `focus` (the idle baseline, the model load) restricted the same way."""
        return measurement.only(*self._focus) if self._focus is not None else measurement

    def unavailable(self) -> dict[str, str]:
        out = dict(self._unavailable)
        for source in self.sources:
            out.update(source.unavailable())
        if self._focus is not None:
            keep, reasons = self._focus
            out = {s: why for s, why in out.items() if scope_kind(s) not in reasons and (keep(s) or ":" not in s)}
            out |= reasons
        return out

    def methods(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for source in self.sources:
            out.update(source.methods())
        return out

    def poll(self) -> tuple[float, dict[str, float]]:
        """Advance every source and return (time, cumulative joules per scope)."""
        now, cumulative, _ = self._poll_with_snapshots()
        return now, cumulative

    def reading(self) -> Reading:
        """Every counter now, with what the sources need to judge a stretch between two readings (a mark inside
        a window, energy/phases.py)."""
        return self._poll_with_snapshots()

    def between(self, label: str, first: Reading, last: Reading) -> Measurement:
        """The measurement between two readings, judged as a window of its own (a stretch shorter than the
        counter's step is estimated from power and says so); its source warnings stay with the enclosing window."""
        return self._result(label, last[0] - first[0], first[1], last[1], first[2], last[2], None)

    def _poll_with_snapshots(self) -> Reading:
        with self._lock:
            now = self.clock()
            cumulative: dict[str, float] = {}
            for source in self.sources:
                source.poll(now)
                cumulative.update(source.cumulative_j())
            return now, cumulative, [_snapshot(source) for source in self.sources]

    def _drain_warnings(self) -> list[str]:
        return [w for source in self.sources for w in source.warnings()]

    @contextmanager
    def window(self, label: str) -> Iterator[Window]:
        window = Window(label)
        with self._lock:
            self._next_window += 1
            key = self._next_window
            self._inherited[key] = []
        start, before, snapshots = self._poll_with_snapshots()
        sampler_mark = self.sampler.mark() if self.sampler is not None else None
        try:
            yield window
        finally:
            end, after, later = self._poll_with_snapshots()
            window.result = self._result(label, end - start, before, after, snapshots, later, sampler_mark, key)

    def _drain_into_open(self, key: int) -> list[str]:
        """This window's source warnings: those its inner windows drained, then those pending now, which every
        other open window (the enclosing ones) receives too."""
        with self._lock:
            drained = self._drain_warnings()
            for other, found in self._inherited.items():
                if other != key:
                    found.extend(drained)
            inherited = self._inherited.pop(key, [])
        return list(dict.fromkeys([*inherited, *drained]))

    def _result(
        self, label: str, duration_s: float, before: dict[str, float], after: dict[str, float],
        snapshots: list[dict[str, Any]], later: list[dict[str, Any]], sampler_mark: Any, key: int | None = None,
    ) -> Measurement:  # fmt: skip
        energy = {scope: after[scope] - before[scope] for scope in after if scope in before}
        method = {s: m for s, m in self.methods().items() if s in energy}
        unavailable = self.unavailable()
        warnings = self._drain_into_open(key) if key is not None else []
        shared: list[dict[str, Any]] = []
        for source, first, last in zip(self.sources, snapshots, later):
            judge = getattr(source, "judge", None)
            verdict = judge(first, last, duration_s) if judge is not None else Verdict()
            energy.update(verdict.energy_j)
            method.update(verdict.method)
            warnings += verdict.warnings
            shared += verdict.shared
            for scope, why in verdict.unavailable.items():
                energy.pop(scope, None)  # unknown, never a smaller number
                method.pop(scope, None)
                unavailable[scope] = why
        peaks, spread = self.sampler.close_window(sampler_mark) if self.sampler is not None else ({}, {})
        readings = {s: k for src in self.sources for s, k in getattr(src, "power_kinds", dict)().items() if s in energy}
        result = Measurement(
            label=label,
            duration_s=duration_s,
            energy_j=energy,
            method=method,
            unavailable=unavailable,
            peak_power_w=peaks,
            idle_power_w={s: p for s, p in self.idle_power_w.items() if s in energy},
            warnings=warnings,
            power_reading=readings,
            power_stdev_w={s: w for s, w in spread.items() if s in energy},
            shared_gpu=[p for p in shared if p.get("scope") in energy],
        )
        return self.scoped(result)

    def measure_idle(self, seconds: float, sleep: Callable[[float], None] = time.sleep) -> Measurement:
        """Measure the idle baseline: a window over `seconds` of doing nothing; later windows carry it. Runs take
        it after the model is loaded and warmed up, so the baseline holds what an idle, ready engine draws (its
        CUDA context, its memory)."""
        with self.window("idle") as idle:
            sleep(seconds)
        assert idle.result is not None
        self.idle_power_w = idle.result.avg_power_w
        idle.result.idle_power_w = dict(self.idle_power_w)
        return idle.result


def _union(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {(p.get("scope"), p.get("pid")) for p in first}
    return [*first, *(p for p in second if (p.get("scope"), p.get("pid")) not in seen)]


def _warning_scope(warning: str) -> str | None:
    """The scope a warning is about ("gpu:1: counter ..." → "gpu:1"), if it names one."""
    head = warning.split(": ", 1)[0]
    return head if ":" in head and scope_kind(head) in ("gpu", "cpu", "dram") else None


def _snapshot(source: Source) -> dict[str, Any]:
    take = getattr(source, "snapshot", None)
    return take() if take is not None else {}


def null_meter(reason: str) -> Meter:
    """A meter that measures nothing and says why (every window has an empty energy_j)."""
    return Meter([], unavailable={"all": reason})
