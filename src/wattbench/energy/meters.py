"""Build the meter a run asks for: `auto` (whatever this machine supports), `nvml`, `rapl` or `none`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from wattbench.energy.base import Clock, Meter, Source, null_meter
from wattbench.energy.nvml import NvmlSource, NvmlUnavailable, load_nvml, visible_devices
from wattbench.energy.rapl import POWERCAP_ROOT, RaplSource
from wattbench.energy.sampler import PowerSampler
from wattbench.errors import WattbenchError

MeterKind = Literal["auto", "nvml", "rapl", "none"]
METER_KINDS = ("auto", "nvml", "rapl", "none")


def make_meter(
    kind: MeterKind = "auto",
    *,
    gpu_indices: list[int] | None = None,
    sampler_hz: float | None = 10.0,
    powercap_root: Path = POWERCAP_ROOT,
    nvml: Any = None,
    clock: Clock = time.monotonic,
) -> Meter:
    """A meter over this machine's sources. `gpu_indices` (NVML indices) defaults to CUDA_VISIBLE_DEVICES.

    `auto` never fails: what it cannot measure is listed in `meter.unavailable()` with the reason. Asking for
    `nvml` or `rapl` explicitly where it does not work is an error.
    """
    if kind not in METER_KINDS:
        raise WattbenchError(f"meter: unknown kind '{kind}'; use one of: {', '.join(METER_KINDS)}")
    if kind == "none":
        return null_meter("energy metering is off (meter = none)")
    sources: list[Source] = []
    unavailable: dict[str, str] = {}
    warnings: list[str] = []
    if kind in ("auto", "nvml"):
        try:
            nvml = nvml or load_nvml()
            if gpu_indices is None:
                gpu_indices, warnings = visible_devices(nvml)
            if gpu_indices:
                sources.append(NvmlSource(nvml, gpu_indices))
            else:
                unavailable["gpu"] = "no GPU visible to this run (CUDA_VISIBLE_DEVICES hides them all)"
        except NvmlUnavailable as exc:
            if kind == "nvml":
                raise WattbenchError(f"meter = nvml: {exc}") from None
            unavailable["gpu"] = str(exc)
            nvml = None
    if kind in ("auto", "rapl"):
        rapl = RaplSource(powercap_root)
        if kind == "rapl" and not rapl.scopes():
            raise WattbenchError(f"meter = rapl: {next(iter(rapl.unavailable().values()))}")
        sources.append(rapl)
    meter = Meter(sources, clock=clock, unavailable=unavailable)
    meter.setup_warnings = warnings
    if sampler_hz:
        PowerSampler(meter, nvml=nvml, gpu_indices=gpu_indices if nvml else [], hz=sampler_hz)
    return meter
