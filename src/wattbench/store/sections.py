"""The typed sections of the summaries (store/schema.py): what each key means, its unit in its name.

Every section keeps the keys it does not declare (`extra="allow"`: a later release's, a seed tool's), so a file
read and written again loses nothing. Unknown figures are None, never 0, except in the seed's own `hardware`
keys, which hold the seed's 0 (store/compat.py, "the seed's view").
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)


class Hardware(Section):
    """The machine a run (or a batch row) ran on, and the VRAM of the GPUs its engine held
    (runs/lifecycle.Lifecycle.hardware). The five resource keys the seed's scripts read are in the seed's view."""

    gpu_name: str | None = None
    """The first visible GPU's name; None without NVML."""
    gpu_count: int | None = None
    """GPUs visible to NVML."""
    gpus_used: list[int] = Field(default_factory=list)
    """NVML indices of the GPUs the engine held."""
    gpus: list[dict[str, Any]] = Field(default_factory=list)
    """Each visible GPU: index, name, memory_total_gib, uuid."""
    gpu_vram_total_gb: float | None = None
    gpu_vram_allocated_gb: float | None = None
    """Seed view: peak VRAM of the engine's GPUs (0 when none was read; `resources` keeps null and why)."""
    model_disk_size_gb: float | None = None
    """Seed view: the weights' size on this machine's disk."""
    model_load_time_seconds: float | None = None
    """Seed view: seconds to load the model."""
    gpu_energy_wh: float | None = None
    """Seed view: the questions' GPU energy (WattBot runs; index and model loads are in `energy.phases`)."""
    gpu_avg_power_watts: float | None = None
    """Seed view: the questions' mean GPU power."""
    peak_rss_gb: float | None = None
    """Peak resident memory of the run's process."""
    cpu: dict[str, Any] | None = None
    """model, logical_cores, ram_gib."""
    hostname: str | None = None
    os: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None


class Resources(Section):
    """wattbench's own resource figures: null where unmeasured, with the reason in `unavailable`."""

    gpu_energy_wh: float | None = None
    gpu_avg_power_w: float | None = None
    gpu_vram_allocated_gb: float | None = None
    model_disk_size_gb: float | None = None
    model_load_time_s: float | None = None
    unavailable: dict[str, str] = Field(default_factory=dict)
    """Each null figure's reason."""


class Cost(Section):
    """What the tokens cost: None when the price is unknown, 0 for an engine whose tokens are free."""

    usd: float | None = None
    price_input_per_1m: float | None = None
    """USD per million input tokens."""
    price_output_per_1m: float | None = None
    """USD per million output tokens."""


class Timing(Section):
    """Where a run's time went, over every session."""

    total_time_s: float | None = None
    """Wall time of every session, loads included."""
    questions_time_s: float | None = None
    """The questions' own latencies, summed."""
    latency_s: dict[str, float | None] = Field(default_factory=dict)
    """mean, p50 and max of a question's latency."""
    retrieval_s: float | None = None
    generation_s: float | None = None
    questions_per_min: float | None = None
    ttft_p50_s: float | None = None
    """Time to first token, p50/p90/p99, over the answers whose engine timed its tokens; TPOT likewise."""


class BackendInfo(Section):
    """What the engine said of itself (`Backend.info()`), and what the run learnt of it."""

    engine: str | None = None
    engine_version: str | None = None
    model_id: str | None = None
    takes_slot: bool | None = None
    """It ran the model on hardware the run held (in process or a managed server), not behind an API."""
    measured_devices: dict[str, Any] | None = None
    """The devices the engine held, whose scopes the run's energy covers (energy/devices.py)."""
