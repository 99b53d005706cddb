"""A background power sampler: a per-device timeline, peaks, and a cross-check of the energy counters.

Each tick (default 10 Hz) polls the meter's counters (so RAPL wraps and power-integrated GPUs stay exact) and
reads, for each GPU, power, utilisation, memory used, temperature and SM clock through NVML: never by starting
`nvidia-smi`. CPU and DRAM power come from the RAPL counter differences between ticks. The timeline is written
to power.csv. The sampler integrates instantaneous GPU power on its own, and a window whose counter energy
differs from that integral by more than 10% gets a warning.
"""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.energy.base import Clock, Meter

DISAGREEMENT = 0.10
MIN_SAMPLES_FOR_CHECK = 5
COLUMNS = (
    "timestamp",
    "elapsed_s",
    "scope",
    "power_w",
    "utilization_pct",
    "memory_used_mib",
    "temperature_c",
    "sm_clock_mhz",
)


@dataclass
class _Sample:
    t: float
    power_w: dict[str, float]


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
        self.samples: list[_Sample] = []
        self.integrated_j: dict[str, float] = {}
        self._integrated_at: list[dict[str, float]] = []  # integral after each sample, for windows' marks
        self._last_cumulative: tuple[float, dict[str, float]] | None = None
        self._started_at: float | None = None
        self.max_memory_used_mib: dict[str, float] = {}
        self.cpu_time_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        meter.sampler = self

    def sample_once(self) -> None:
        """One tick; the thread calls this, and tests call it directly with a fake clock."""
        now, cumulative = self.meter.poll()
        if self._started_at is None:
            self._started_at = now
        wall = self.wall_clock()
        powers: dict[str, float] = {}
        for scope, handle in self.handles.items():
            milliwatts = _try(self.nvml.nvmlDeviceGetPowerUsage, handle)
            utilization = _try(self.nvml.nvmlDeviceGetUtilizationRates, handle)
            memory = _try(self.nvml.nvmlDeviceGetMemoryInfo, handle)
            temperature = _try(self.nvml.nvmlDeviceGetTemperature, handle, 0)  # 0 = NVML_TEMPERATURE_GPU
            clock_mhz = _try(self.nvml.nvmlDeviceGetClockInfo, handle, 1)  # 1 = NVML_CLOCK_SM
            power_w = None if milliwatts is None else milliwatts / 1000.0
            memory_mib = None if memory is None else memory.used / 2**20
            if power_w is not None:
                powers[scope] = power_w
            if memory_mib is not None:
                self.max_memory_used_mib[scope] = max(self.max_memory_used_mib.get(scope, 0.0), memory_mib)
            busy_pct = None if utilization is None else utilization.gpu
            elapsed = now - self._started_at
            self.rows.append((wall, elapsed, scope, power_w, busy_pct, memory_mib, temperature, clock_mhz))
        if self._last_cumulative is not None:
            last_t, last = self._last_cumulative
            for scope, joules in cumulative.items():
                if not scope.startswith("gpu:") and scope in last and now > last_t:
                    powers[scope] = (joules - last[scope]) / (now - last_t)
                    self.rows.append((wall, now - self._started_at, scope, powers[scope], None, None, None, None))
        self._last_cumulative = (now, cumulative)
        if self.samples:
            previous = self.samples[-1]
            for scope, power in powers.items():
                if scope.startswith("gpu:") and scope in previous.power_w:
                    step = (now - previous.t) * (power + previous.power_w[scope]) / 2.0
                    self.integrated_j[scope] = self.integrated_j.get(scope, 0.0) + step
        self.samples.append(_Sample(now, powers))
        self._integrated_at.append(dict(self.integrated_j))

    def mark(self) -> int:
        return len(self.samples)

    def peaks_since(self, mark: int | None) -> dict[str, float]:
        peaks: dict[str, float] = {}
        for sample in self.samples[mark or 0 :]:
            for scope, power in sample.power_w.items():
                peaks[scope] = max(peaks.get(scope, 0.0), power)
        return peaks

    def integrated_since(self, mark: int) -> dict[str, float]:
        """GPU energy (J) from integrating sampled power since `mark` (a `mark()` taken after a first sample)."""
        before = self._integrated_at[mark - 1] if mark > 0 else {}
        after = self._integrated_at[-1] if self._integrated_at else {}
        return {scope: joules - before.get(scope, 0.0) for scope, joules in after.items()}

    def check_counters(self, mark: int | None, energy_j: dict[str, float], methods: dict[str, str]) -> list[str]:
        """Warnings for counter scopes whose window energy disagrees with the integrated power by > 10%."""
        mark = mark or 0
        if len(self.samples) - mark < MIN_SAMPLES_FOR_CHECK or mark == 0:
            return []
        integrated_j = self.integrated_since(mark)
        out = []
        for scope, counter_j in energy_j.items():
            if methods.get(scope) != "nvml_counter" or scope not in integrated_j:
                continue
            integrated = integrated_j[scope]
            if integrated > 0 and abs(counter_j / integrated - 1.0) > DISAGREEMENT:
                out.append(
                    f"{scope}: counter energy {counter_j:.1f} J and integrated power {integrated:.1f} J "
                    f"disagree by {abs(counter_j / integrated - 1.0):.0%}"
                )
        return out

    def _run(self) -> None:
        started = time.thread_time()
        while not self._stop.wait(self.interval_s):
            self.sample_once()
        self.cpu_time_s = time.thread_time() - started

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> PowerSampler:
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

    def write_csv(self, path: Path, append: bool = True) -> None:
        """Write the timeline; appending keeps the rows of earlier sessions of a resumed run."""
        path = Path(path)
        new = not path.exists() or not append
        with open(path, "a" if append else "w", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(COLUMNS)
            writer.writerows(("" if v is None else v for v in row) for row in self.rows)
        self.rows = []
