"""Build the meter a run asks for: `auto` (every source this machine supports), one source by name, or `none`.

The sources by name are SOURCES: each entry is a module's `open_source(context)`, imported only when used, that
returns its Source or raises SourceUnavailable with the scope and the reason. Adding a meter is a module with a
Source class and an `open_source`, and its line in SOURCES.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wattbench.energy.base import Clock, Meter, Source, SourceUnavailable, null_meter
from wattbench.energy.rapl import POWERCAP_ROOT
from wattbench.energy.sampler import PowerSampler
from wattbench.errors import WattbenchError
from wattbench.registry import Entry, Registry

SOURCES = Registry("meter", [
    Entry("nvml", "wattbench.energy.nvml:open_source"),
    Entry("rapl", "wattbench.energy.rapl:open_source"),
], group="wattbench.meters")  # fmt: skip
"""Energy sources by name, in the order `auto` tries them."""
KINDS = ("auto", "none")
"""The meter kinds that are not one source: every source the machine supports, and none."""


def meter_kinds() -> tuple[str, ...]:
    """Every valid `energy.meter`: auto, each source by name, none."""
    return (KINDS[0], *SOURCES.names(), KINDS[1])


@dataclass
class SourceContext:
    """What a source's `open_source` may use, and what it leaves for the sampler and the run's notes."""

    gpu_indices: list[int] | None = None
    """NVML indices to measure; None: the GPUs this process can see (CUDA_VISIBLE_DEVICES). NVML sets it."""
    powercap_root: Path = POWERCAP_ROOT
    nvml: Any = None
    """The NVML module (a fake in tests); NVML's `open_source` loads the real one when None and keeps it here."""
    warnings: list[str] = field(default_factory=list)


def check_meter(kind: str) -> None:
    """Refuse an unknown meter name (with the near miss) before anything is loaded or measured."""
    SOURCES.resolve(kind, also=KINDS)


def _open(name: str, context: SourceContext) -> Source:
    source: Source = SOURCES.load(name)(context)
    return source


def make_meter(
    kind: str = "auto",
    *,
    gpu_indices: list[int] | None = None,
    sampler_hz: float | None = 10.0,
    powercap_root: Path = POWERCAP_ROOT,
    nvml: Any = None,
    clock: Clock = time.monotonic,
    meter_url: str | None = None,
    meter_token: str | None = None,
) -> Meter:
    """A meter over this machine's sources. `gpu_indices` (NVML indices) defaults to CUDA_VISIBLE_DEVICES.

    `auto` never fails: what it cannot measure is listed in `meter.unavailable()` with the reason. Asking for one
    source by name where it does not work is an error.
    """
    check_meter(kind)
    if kind == "none":
        return null_meter("energy metering is off (meter = none)")
    if meter_url:
        return _remote_meter(meter_url, meter_token, clock, sampler_hz)
    context = SourceContext(gpu_indices, powercap_root, nvml)
    sources: list[Source] = []
    unavailable: dict[str, str] = {}
    for name in SOURCES.names() if kind == "auto" else [kind]:
        try:
            source = _open(name, context)
        except SourceUnavailable as exc:
            if kind != "auto":
                raise WattbenchError(f"meter = {kind}: {exc}") from None
            unavailable[exc.scope] = str(exc)
            continue
        if kind != "auto" and not source.scopes():
            reasons = list(source.unavailable().values()) or ["nothing to measure"]
            raise WattbenchError(f"meter = {kind}: {reasons[0]}")
        sources.append(source)
    meter = Meter(sources, clock=clock, unavailable=unavailable)
    meter.setup_warnings = context.warnings
    if sampler_hz:
        nvml_used = context.nvml if any(s.name == "nvml" for s in sources) else None
        PowerSampler(meter, nvml=nvml_used, gpu_indices=context.gpu_indices if nvml_used else [], hz=sampler_hz)
    return meter


def _remote_meter(url: str, token: str | None, clock: Clock, sampler_hz: float | None) -> Meter:
    """The GPUs of a meter agent on another host; an agent that cannot be read now leaves GPU energy unavailable
    with the reason, and the run goes on. With a sampler, each tick is one reading from the agent: its power
    timeline, and power readings inside every window."""
    from wattbench.energy.remote import open_remote

    try:
        source = open_remote(url, token)
    except SourceUnavailable as exc:
        meter = Meter([], clock=clock, unavailable={"gpu": f"remote meter: {exc}"})
    else:
        meter = Meter([source], clock=clock)
    meter.remote_gpus = True
    if sampler_hz and meter.sources:
        PowerSampler(meter, hz=sampler_hz)
    return meter
