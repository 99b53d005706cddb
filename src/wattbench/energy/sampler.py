"""A background power sampler: a per-device timeline and peaks, in bounded memory.

Each tick (default 10 Hz) polls the meter's sources, so that RAPL wraps are caught, GPUs without an energy
counter are integrated finely, and every window's power integral (nvml.py) has readings inside it. It also reads,
for each GPU, power (instantaneous where the driver has it), utilisation, memory used, temperature and SM clock
through NVML: never by starting `nvidia-smi`. CPU and DRAM power come from the RAPL counter differences between
ticks. The timeline streams to power.csv as it is sampled (a few hundred rows are buffered), and peaks are kept
per open window, so a run of any length holds a fixed amount of memory.
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path
from typing import Any

from wattbench.energy.base import Clock, Meter
from wattbench.energy.nvml import read_power_w

COLUMNS = (
    "timestamp",
    "elapsed_s",
    "scope",
    "power_w",
    "power_kind",
    "utilization_pct",
    "memory_used_mib",
    "temperature_c",
    "sm_clock_mhz",
)
FLUSH_ROWS = 500
"""Rows buffered before they are appended to the CSV."""


def _try(call, *args) -> Any:
    try:
        return call(*args)
    except Exception:  # a reading this GPU does not support stays empty in the timeline
        return None


class PowerSampler:
    def __init__(
        self,
        meter: Meter,
        nvml: Any = None,
        gpu_indices: list[int] | None = None,
        hz: float = 10.0,
        clock: Clock | None = None,
        wall_clock: Clock = time.time,
    ) -> None:
        if hz <= 0:
            raise ValueError("sampler hz must be positive")
        self.meter = meter
        self.nvml = nvml
        self.interval_s = 1.0 / hz
        self.clock = clock or meter.clock
        self.wall_clock = wall_clock
        self.handles = {f"gpu:{i}": nvml.nvmlDeviceGetHandleByIndex(i) for i in (gpu_indices or [])} if nvml else {}
        self.rows: list[tuple] = []
        self.ticks = 0
        self.csv_path: Path | None = None
        self._header_written = False
        self._last_cumulative: tuple[float, dict[str, float]] | None = None
        self._started_at: float | None = None
        self._trackers: dict[int, dict[str, list[float]]] = {}  # open window → scope → [peak, n, sum, sum of squares]
        self._next_mark = 0
        self._series: dict[int, list[tuple[float, dict[str, float]]]] = {}  # open series → (time, power by scope)
        self.max_memory_used_mib: dict[str, float] = {}
        self.cpu_time_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        meter.sampler = self

    def _gpu_row(
        self, scope: str, handle: Any, wall: float, elapsed: float, polled: tuple[float, str] | None
    ) -> float | None:
        # The meter's poll has just read this GPU's power; read it here only for a GPU the meter does not hold.
        reading = polled if polled is not None else _try(read_power_w, self.nvml, handle)
        utilization = _try(self.nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = _try(self.nvml.nvmlDeviceGetMemoryInfo, handle)
        temperature = _try(self.nvml.nvmlDeviceGetTemperature, handle, 0)  # 0 = NVML_TEMPERATURE_GPU
        clock_mhz = _try(self.nvml.nvmlDeviceGetClockInfo, handle, 1)  # 1 = NVML_CLOCK_SM
        power_w, kind = reading if reading is not None else (None, None)
        memory_mib = None if memory is None else memory.used / 2**20
        if memory_mib is not None:
            self.max_memory_used_mib[scope] = max(self.max_memory_used_mib.get(scope, 0.0), memory_mib)
        busy_pct = None if utilization is None else utilization.gpu
        self.rows.append((wall, elapsed, scope, power_w, kind, busy_pct, memory_mib, temperature, clock_mhz))
        return power_w

    def sample_once(self) -> None:
        """One tick; the thread calls this, and tests call it directly with a fake clock."""
        now, cumulative = self.meter.poll()
        with self._lock:
            if self._started_at is None:
                self._started_at = now
            wall, elapsed = self.wall_clock(), now - self._started_at
            powers: dict[str, float] = {}
            polled = {s: w for src in self.meter.sources for s, w in getattr(src, "last_power_w", dict)().items()}
            for scope, handle in self.handles.items():
                power_w = self._gpu_row(scope, handle, wall, elapsed, polled.get(scope))
                if power_w is not None:
                    powers[scope] = power_w
            for scope, (power_w, kind) in polled.items():
                if scope not in self.handles:  # a GPU read by a source alone (a meter agent's): its power only
                    powers[scope] = power_w
                    self.rows.append((wall, elapsed, scope, power_w, kind, None, None, None, None))
            if self._last_cumulative is not None:
                last_t, last = self._last_cumulative
                for scope, joules in cumulative.items():
                    if not scope.startswith("gpu:") and scope in last and now > last_t:
                        powers[scope] = (joules - last[scope]) / (now - last_t)
                        self.rows.append((wall, elapsed, scope, powers[scope], "counter", None, None, None, None))
            self._last_cumulative = (now, cumulative)
            for series in self._series.values():
                series.append((now, dict(powers)))
            for tracked in self._trackers.values():
                for scope, power in powers.items():
                    stats = tracked.setdefault(scope, [0.0, 0.0, 0.0, 0.0])
                    stats[0] = max(stats[0], power)
                    stats[1] += 1
                    stats[2] += power
                    stats[3] += power * power
            self.ticks += 1
            if self.csv_path is not None and len(self.rows) >= FLUSH_ROWS:
                self._flush()

    def mark(self) -> int:
        """Start tracking peaks and spread for a window; `close_window` ends it."""
        with self._lock:
            self._next_mark += 1
            self._trackers[self._next_mark] = {}
            return self._next_mark

    def start_series(self) -> int:
        """Keep every tick's power (by scope, on the meter's clock) from now until `end_series`: what per-request
        attribution shapes a call's energy with (energy/inflight.py)."""
        with self._lock:
            self._next_mark += 1
            self._series[self._next_mark] = []
            return self._next_mark

    def end_series(self, key: int) -> list[tuple[float, dict[str, float]]]:
        with self._lock:
            return self._series.pop(key, [])

    def close_window(self, mark: int | None) -> tuple[dict[str, float], dict[str, float]]:
        """(peak power, standard deviation of the sampled power) per scope since `mark`, which it ends."""
        with self._lock:
            tracked = self._trackers.pop(mark, {}) if mark is not None else {}
        peaks = {scope: stats[0] for scope, stats in tracked.items()}
        spread = {}
        for scope, (_, n, total, squares) in tracked.items():
            if n >= 2:
                mean = total / n
                spread[scope] = max(0.0, (squares - n * mean * mean) / (n - 1)) ** 0.5
        return peaks, spread

    def _run(self) -> None:
        started = time.thread_time()
        while not self._stop.wait(self.interval_s):
            self.sample_once()
        self.cpu_time_s = time.thread_time() - started

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, csv_path: Path | None = None) -> PowerSampler:
        """Start ticking; with `csv_path`, the timeline streams there (appended below an existing header)."""
        if csv_path is not None:
            self.csv_path = Path(csv_path)
        self._stop.clear()  # a batch starts the sampler again for each row
        self.sample_once()  # a first sample now, so that the first window has a reference point
        self._thread = threading.Thread(target=self._run, name="wattbench-power-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.sample_once()
        with self._lock:
            if self.csv_path is not None:
                self._flush()

    def _flush(self) -> None:
        assert self.csv_path is not None
        new = not self.csv_path.exists()
        with open(self.csv_path, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(COLUMNS)
            writer.writerows(("" if v is None else v for v in row) for row in self.rows)
        self.rows = []

    def write_csv(self, path: Path, append: bool = True) -> None:
        """Write what is buffered; appending keeps the rows of earlier sessions of a resumed run."""
        with self._lock:
            previous = self.csv_path
            self.csv_path = Path(path)
            if not append:
                self.csv_path.unlink(missing_ok=True)
            self._flush()
            self.csv_path = previous
