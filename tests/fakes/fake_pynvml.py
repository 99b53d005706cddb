"""A stand-in for the `pynvml` module: NVIDIA GPUs we do not have here, with scripted power and energy.

It is a double of the hardware (what NVML would report), not of wattbench: wattbench imports it as `pynvml`.
Power is piecewise constant over a controllable clock, so the energy of any interval is known exactly.
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801 — the real module's name
    pass


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeGpu:
    index: int
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    schedule: list[tuple[float, float]] = field(default_factory=lambda: [(0.0, 100.0)])  # (from time s, watts)
    has_counter: bool = True
    counter_scale: float = 1.0  # != 1: the counter disagrees with the power readings
    counter_offset_mj: int = 5_000_000
    resets_at: float | None = None  # the driver reloads: the counter restarts from 0 at this time
    memory_total: int = 80 * 2**30
    memory_used: int = 10 * 2**30
    counter_period_s: float = 0.0  # > 0: the counter advances only at multiples of this period (quantised)
    counter_stuck_from: float | None = None  # the counter stops advancing at this time
    instant_field: bool = True  # the driver has NVML_FI_DEV_POWER_INSTANT
    averaged_power_s: float = 0.0  # > 0: nvmlDeviceGetPowerUsage is the mean over this trailing period
    fail_between: tuple[float, float] | None = None  # every read fails in this interval
    mig: bool = False  # MIG mode on
    processes: list[tuple[float, float, int, int]] = field(default_factory=list)  # (from s, until s, pid, bytes)

    def power_w(self, t: float) -> float:
        watts = self.schedule[0][1]
        for start, value in self.schedule:
            if t >= start:
                watts = value
        return watts

    def energy_j(self, t0: float, t1: float) -> float:
        """Exact energy between two times of the piecewise-constant schedule."""
        edges = sorted({t0, t1, *(s for s, _ in self.schedule if t0 < s < t1)})
        return sum((b - a) * self.power_w(a) for a, b in zip(edges, edges[1:]))

    def averaged_power_w(self, t: float) -> float:
        """What nvmlDeviceGetPowerUsage reports on Ampere and newer: the mean over the last second."""
        if self.averaged_power_s <= 0:
            return self.power_w(t)
        return self.energy_j(t - self.averaged_power_s, t) / self.averaged_power_s

    def failing(self, t: float) -> bool:
        return self.fail_between is not None and self.fail_between[0] <= t < self.fail_between[1]

    def counter_mj(self, t: float) -> int:
        if self.counter_period_s > 0:
            t = (t // self.counter_period_s) * self.counter_period_s
        if self.counter_stuck_from is not None:
            t = min(t, self.counter_stuck_from)
        if self.resets_at is not None and t >= self.resets_at:
            return int(self.counter_scale * self.energy_j(self.resets_at, t) * 1000)
        return (self.counter_offset_mj + int(self.counter_scale * self.energy_j(0.0, t) * 1000)) % 2**64


def make_module(gpus: list[FakeGpu], clock: Clock) -> types.ModuleType:
    module = types.ModuleType("pynvml")
    module.NVMLError = NVMLError
    module.NVMLError_NotSupported = NVMLError_NotSupported
    module.NVML_TEMPERATURE_GPU = 0
    module.NVML_CLOCK_SM = 1
    module.gpus = gpus
    module.clock = clock
    module.nvmlInit = lambda: None
    module.nvmlShutdown = lambda: None
    module.nvmlDeviceGetCount = lambda: len(gpus)
    module.nvmlDeviceGetHandleByIndex = lambda i: gpus[i]
    module.nvmlDeviceGetUUID = lambda h: h.uuid
    module.nvmlDeviceGetName = lambda h: h.name
    module.nvmlSystemGetDriverVersion = lambda: "580.65.06"
    module.nvmlSystemGetCudaDriverVersion = lambda: 13000
    module.nvmlDeviceGetEnforcedPowerLimit = lambda h: 700_000

    def energy(h: FakeGpu) -> int:
        if not h.has_counter:
            raise NVMLError_NotSupported("Not Supported")
        if h.failing(clock.now):
            raise NVMLError("GPU is lost")
        return h.counter_mj(clock.now)

    def power_usage(h: FakeGpu) -> int:
        if h.failing(clock.now):
            raise NVMLError("GPU is lost")
        return int(h.averaged_power_w(clock.now) * 1000)

    def field_values(h: FakeGpu, fields: list[int]) -> list[types.SimpleNamespace]:
        out = []
        for field_id in fields:
            ok = field_id == module.NVML_FI_DEV_POWER_INSTANT and h.instant_field and not h.failing(clock.now)
            value = types.SimpleNamespace(uiVal=int(h.power_w(clock.now) * 1000) if ok else 0)
            out.append(types.SimpleNamespace(fieldId=field_id, nvmlReturn=0 if ok else 3, value=value))
        return out

    def mig_mode(h: FakeGpu) -> tuple[int, int]:
        return (1, 1) if h.mig else (0, 0)

    module.NVML_FI_DEV_POWER_INSTANT = 186
    module.nvmlDeviceGetTotalEnergyConsumption = energy
    module.nvmlDeviceGetPowerUsage = power_usage
    module.nvmlDeviceGetFieldValues = field_values
    module.nvmlDeviceGetMigMode = mig_mode

    def compute_processes(h: FakeGpu) -> list[types.SimpleNamespace]:
        now = clock.now
        return [types.SimpleNamespace(pid=pid, usedGpuMemory=used) for start, until, pid, used in h.processes
                if start <= now < until]  # fmt: skip

    module.nvmlDeviceGetComputeRunningProcesses = compute_processes
    module.nvmlDeviceGetGraphicsRunningProcesses = lambda h: []
    module.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(
        total=h.memory_total, used=h.memory_used, free=h.memory_total - h.memory_used
    )
    module.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=87, memory=40)
    module.nvmlDeviceGetTemperature = lambda h, sensor: 61
    module.nvmlDeviceGetClockInfo = lambda h, kind: 1980
    return module


class WallClock:
    """The real monotonic clock, for fakes whose scripted power must follow real time while real work runs;
    it remembers every reading a meter took, so a test can find a window's true edges."""

    def __init__(self) -> None:
        self.readings: list[float] = []

    @property
    def now(self) -> float:
        return time.monotonic()

    def __call__(self) -> float:
        value = time.monotonic()
        self.readings.append(value)
        return value

    def edges_of(self, duration_s: float) -> tuple[float, float]:
        """The two readings `duration_s` apart: a window's start and end, as the meter took them."""
        readings = sorted(set(self.readings))
        for i, start in enumerate(readings):
            for end in readings[i + 1 :]:
                if end - start == duration_s:
                    return start, end
        raise AssertionError(f"no two clock readings are {duration_s} s apart")


@dataclass
class AdditiveGpu(FakeGpu):
    """A GPU whose power follows the requests a scripted server has in flight, in real time: `base_w`, plus
    `prefill_w` for each request waiting for its first token and `decode_w` for each past it (the server calls
    `arrive`, `first` and `done` as it serves). `saturate_w` > 0 bends the requests' part (a GPU that cannot draw
    more than base + saturate_w): the part of d watts becomes saturate_w x (1 - exp(-d / saturate_w)). Energy is
    integrated exactly over the server's own event times."""

    base_w: float = 0.0
    prefill_w: float = 0.0
    decode_w: float = 0.0
    saturate_w: float = 0.0
    spans: list[list[float | None]] = field(default_factory=list)  # per request: [arrived, first token, done]
    keys: list[str] = field(default_factory=list)  # per request: what the server was asked (its last message)

    def __post_init__(self) -> None:
        import threading

        self._lock = threading.Lock()

    def arrive(self, key: str = "") -> int:
        with self._lock:
            self.spans.append([time.monotonic(), None, None])
            self.keys.append(key)
            return len(self.spans) - 1

    def first(self, index: int) -> None:
        with self._lock:
            self.spans[index][1] = time.monotonic()

    def done(self, index: int) -> None:
        with self._lock:
            now = time.monotonic()
            span = self.spans[index]
            span[1] = span[1] if span[1] is not None else now
            span[2] = now

    def _counts(self, t: float) -> tuple[int, int]:
        prefill = decode = 0
        for start, first, end in list(self.spans):
            if start is None or t < start or (end is not None and t >= end):
                continue
            if first is None or t < first:
                prefill += 1
            else:
                decode += 1
        return prefill, decode

    def _requests_w(self, prefill: int, decode: int) -> float:
        part = self.prefill_w * prefill + self.decode_w * decode
        if self.saturate_w > 0:
            import math

            return self.saturate_w * (1 - math.exp(-part / self.saturate_w))
        return part

    def power_w(self, t: float) -> float:
        return self.base_w + self._requests_w(*self._counts(t))

    def energy_j(self, t0: float, t1: float) -> float:
        edges = {t0, t1}
        for span in list(self.spans):
            edges.update(x for x in span if x is not None and t0 < x < t1)
        points = sorted(edges)
        return sum((b - a) * self.power_w(a) for a, b in zip(points, points[1:]))

    def own_j(self, index: int) -> tuple[float, float]:
        """(prefill, decode) energy the request's own draw cost, by the server's times (additive model)."""
        start, first, end = self.spans[index]
        assert start is not None and first is not None and end is not None
        return self.prefill_w * (first - start), self.decode_w * (end - first)

    def proportional_j(self, index: int) -> float:
        """With saturation: the request's share of the requests' part at each instant, in proportion to what it
        would draw alone in its phase (the reference the additive rule is compared with)."""
        start, first, end = self.spans[index]
        assert start is not None and first is not None and end is not None
        edges = sorted({x for span in self.spans for x in span if x is not None and start <= x <= end})
        total = 0.0
        for a, b in zip(edges, edges[1:]):
            prefill, decode = self._counts(a)
            nominal = self.prefill_w * prefill + self.decode_w * decode
            mine = self.prefill_w if a < first else self.decode_w
            if nominal > 0:
                total += (b - a) * self._requests_w(prefill, decode) * mine / nominal
        return total
