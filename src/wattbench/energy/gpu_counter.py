"""One GPU's energy from its readings, wherever they are taken: NVML on this machine (energy/nvml.py) or a meter
agent on the GPU's host (energy/remote.py). Both read the same two things at every poll, the total-energy counter
(mJ since the driver loaded) and the power, and both windows are judged by the same rules, so a counter reset, a
wrap, a window shorter than the counter's step or a stuck counter gives the same figure and the same warning
whichever way the readings came.

- The counter: a reading below the last one is a wrap past 2^64 mJ when the last was in the upper half of the
  range, else a reset (the driver reloaded): what it counted since 0 is added and a warning says so.
- Power is integrated by the trapezoid rule over the reading times. On a GPU without the counter that integral
  is the energy; elsewhere it estimates windows shorter than the counter's step (~100 ms) and windows over which
  the counter did not move, and cross-checks long ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattbench.energy.base import Verdict

WRAP_MJ = 2**64  # the counter is an unsigned 64-bit mJ value

COUNTER_PERIOD_S = 0.1
"""The energy counter advances in steps of about 20-100 ms: a window shorter than this cannot be read from it."""

CHECK_MIN_S = 5.0
"""Counter and integrated power are compared only over windows at least this long: the averaged power reading
lags by up to a second, which dominates shorter windows."""

DISAGREEMENT = 0.10
"""Counter vs integrated power beyond this relative difference gets a warning."""

AVERAGE_S = 1.0
"""The averaging period of nvmlDeviceGetPowerUsage on Ampere and newer: its integral lags the true power by up
to this much at each edge of a window, which the cross-check allows for."""


@dataclass(frozen=True)
class Methods:
    """What a source calls each way it measured a window (summaries record them per scope)."""

    counter: str
    power_only: str
    estimate: str
    integrated: str
    failure: str = "NVML read failed {count} time(s) in this window ({error})"


NVML = Methods("nvml_counter", "nvml_power_sampling", "nvml_power_estimate", "nvml_power_integrated")
AGENT = Methods("remote_agent_nvml_counter", "remote_agent_power_sampling", "remote_agent_power_estimate",
                "remote_agent_power_integrated", "remote meter: {error}")  # fmt: skip


@dataclass
class GpuTrack:
    """What one GPU's scope has seen so far; windows take snapshots of it."""

    has_counter: bool
    power_kind: str  # instant or average
    counter_mj: int | None = None
    counter_j: float = 0.0
    power_j: float = 0.0  # trapezoid integral of power over the reading times
    last_power: tuple[float, float] | None = None  # (time_s, W)
    polls: int = 0
    failures: int = 0
    last_failure: str = ""

    def add_counter(self, scope: str, current_mj: int) -> str | None:
        """Advance by a counter reading; a warning when the counter was reset."""
        previous = self.counter_mj if self.counter_mj is not None else current_mj
        warning = None
        if current_mj >= previous:
            delta = current_mj - previous
        elif previous > WRAP_MJ // 2:  # wrapped past 2^64 mJ
            delta = current_mj + WRAP_MJ - previous
        else:  # the driver reloaded and the counter restarted from 0: count what it has seen since
            delta = current_mj
            warning = f"{scope}: energy counter reset ({previous} → {current_mj} mJ); counted from 0"
        self.counter_mj = current_mj
        self.counter_j += delta / 1000.0
        return warning

    def add_power(self, time_s: float, power_w: float) -> None:
        if self.last_power is not None and time_s > self.last_power[0]:
            self.power_j += (time_s - self.last_power[0]) * (power_w + self.last_power[1]) / 2.0
        self.last_power = (time_s, power_w)

    def failed(self, error: str) -> None:
        self.failures += 1
        self.last_failure = error

    def cumulative_j(self) -> float:
        return self.counter_j if self.has_counter else self.power_j

    def snapshot(self) -> tuple[float, float, int, int, float | None]:
        """(counter J, power J, polls, failures, last power W): what a window compares at its edges."""
        return (self.counter_j, self.power_j, self.polls, self.failures,
                self.last_power[1] if self.last_power else None)  # fmt: skip


def judge(
    tracks: dict[str, GpuTrack], before: dict[str, Any], after: dict[str, Any], duration_s: float, names: Methods
) -> Verdict:
    """A window's GPU energy where the counter alone would mislead: unknown after a failed read, estimated from
    power when the window is shorter than the counter's step or the counter did not move, and a warning when
    counter and power disagree over a long window (or a counterless GPU's power had too few readings)."""
    verdict = Verdict()
    for scope, (counter0, power0, polls0, failures0, edge0) in before.items():
        if scope not in after or scope not in tracks:
            continue
        counter1, power1, polls1, failures1, edge1 = after[scope]
        gpu = tracks[scope]
        if failures1 > failures0:
            verdict.unavailable[scope] = names.failure.format(count=failures1 - failures0, error=gpu.last_failure)
            continue
        if not gpu.has_counter:
            readings = polls1 - polls0 + 1  # the window's first edge is a reading too
            if readings < 4 and duration_s > 1.0:
                verdict.warnings.append(f"{scope}: power integrated from only {readings} readings over "
                                        f"{duration_s:.1f} s (no power sampler running?)")  # fmt: skip
            continue
        counter_j, power_j = counter1 - counter0, power1 - power0
        if duration_s < COUNTER_PERIOD_S:
            verdict.energy_j[scope] = power_j
            verdict.method[scope] = names.estimate
            verdict.warnings.append(
                f"{scope}: a {1000 * duration_s:.0f} ms window is shorter than the energy counter's update "
                f"period (~{1000 * COUNTER_PERIOD_S:.0f} ms); estimated from {gpu.power_kind} power"
            )
        elif counter_j <= 0 < power_j:
            verdict.energy_j[scope] = power_j
            verdict.method[scope] = names.integrated
            verdict.warnings.append(
                f"{scope}: the energy counter did not advance over {duration_s:.2f} s while power read "
                f"{power_j / duration_s:.0f} W (stuck counter); energy integrated from power instead"
            )
        elif duration_s >= CHECK_MIN_S and polls1 - polls0 >= 5 and power_j > 0:
            gap = abs(counter_j / power_j - 1.0)
            if gap > DISAGREEMENT and abs(counter_j - power_j) > _lag_j(gpu, counter_j / duration_s, edge0, edge1):
                verdict.warnings.append(
                    f"{scope}: counter energy {counter_j:.1f} J and integrated {gpu.power_kind} power "
                    f"{power_j:.1f} J disagree by {gap:.0%}"
                )
    return verdict


def _lag_j(gpu: GpuTrack, mean_w: float, edge0: float | None, edge1: float | None) -> float:
    """How far the averaged reading's integral can be off at the two edges: the difference between what it read
    there and the window's mean power, for up to one averaging period each. Instant readings do not lag."""
    if gpu.power_kind != "average":
        return 0.0
    return AVERAGE_S * sum(abs(edge - mean_w) for edge in (edge0, edge1) if edge is not None)
