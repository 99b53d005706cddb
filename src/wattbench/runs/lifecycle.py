"""The lifecycle every run shares, whatever its task: a WattBot run and a batch row both go through it.

    meter = open_meter(config.energy, gpus)          # the config's meter (a slot's GPUs inside an executor)
    with Lifecycle(meter, run_dir / "power.csv") as life:   # the power timeline streams to power.csv
        backend = life.load(factory)                  # in its own window; the meter focused on its devices
        life.warm_up(calls)                           # outside every window
        idle = life.idle(seconds)                     # the loaded, warm engine's baseline
        stopped = life.items(task, items, store, ...) # runs/loop.py, phase marks taken in the loop
    facts = life.hardware(disk_bytes)                 # the machine and the VRAM of the engine's own GPUs

Leaving the block, however it is left, stops the timeline and closes the engine. What differs between the
workflows (their tasks, what they store per item, their summaries) stays in runs/wattbot.py and runs/textgen.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from wattbench.backends.base import Backend
from wattbench.config.sections import EnergyConfig
from wattbench.energy.base import Measurement, Meter
from wattbench.energy.devices import Devices, as_devices, scope_rule, slot_gpus
from wattbench.energy.hardware import peak_rss_bytes, system_facts, torch_peak_vram_bytes
from wattbench.energy.meters import make_meter
from wattbench.energy.remote import remote_settings
from wattbench.runs.loop import OnResult, run_items
from wattbench.tasks.base import Task


def open_meter(energy: EnergyConfig, gpus: list[int] | None) -> Meter:
    """The meter the energy settings ask for. A managed server runs on the GPUs the config gives it (`gpus`),
    except inside an executor slot, whose GPUs it starts on; the run then keeps the scopes of the devices its
    engine reports (Meter.focus). Raises WattbenchError for a meter the machine cannot provide."""
    gpus = gpus if slot_gpus() is None else None
    remote = remote_settings(energy.meter_url, energy.meter_token_file)
    return make_meter(energy.meter, sampler_hz=energy.sampler_hz, gpu_indices=gpus, **remote)


class Lifecycle:
    """One run's meter, power timeline and engine, from the timeline's start to the engine's close."""

    def __init__(self, meter: Meter, timeline: Path) -> None:
        self.meter = meter
        self.timeline = timeline
        self.backend: Backend | None = None
        self.devices: Devices | None = None
        self.load_s: float | None = None
        self.load_window: Measurement | None = None

    def __enter__(self) -> Lifecycle:
        # The sampler runs whenever anything can be measured: a GPU without an energy counter is integrated from
        # its readings, and every window's counter is checked against power (energy/nvml.py).
        if self.meter.sampler is not None and any(s.scopes() for s in self.meter.sources):
            self.meter.sampler.start(self.timeline)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """The rest of the timeline written to its file, the engine closed; safe to call twice."""
        self.meter.own_processes(set)
        if self.meter.sampler is not None and self.meter.sampler.running:
            self.meter.sampler.stop()
        if self.backend is not None:
            backend, self.backend = self.backend, None
            backend.close()

    def load(self, create: Callable[[], Backend], window: str = "model_load") -> Backend:
        """The engine `create` makes, loaded in its own meter window; from now on the meter keeps exactly the
        scopes of the devices the engine holds (none of a CPU or remote engine's GPUs)."""
        started = time.perf_counter()
        with self.meter.window(window) as load:
            self.backend = create()
        self.load_s = time.perf_counter() - started
        self.load_window = load.result
        self.devices = as_devices(self.backend.devices())
        if self.meter.remote_gpus and self.meter.measures_anything():
            self.devices = replace(self.devices, metered_remotely=True)  # the agent's GPUs are the model's
        self.meter.focus(*scope_rule(self.devices))
        self.meter.own_processes(_server_processes(self.backend, self.devices))
        return self.backend

    def warm_up(self, calls: Sequence[Callable[[Backend], Any]]) -> float:
        """Each call with the loaded engine, outside every meter window (their results are the caller's to keep
        or drop); returns their seconds."""
        assert self.backend is not None, "load the engine first"
        started = time.perf_counter()
        for call in calls:
            call(self.backend)
        return time.perf_counter() - started

    def idle(self, seconds: float) -> Measurement | None:
        """The idle baseline of the loaded, warm engine's devices; None where nothing is measured (an API, a
        machine without NVML or RAPL) or `seconds` is 0."""
        if seconds <= 0 or not self.meter.measures_anything():
            return None
        return self.meter.measure_idle(seconds)

    def items(self, task: Task, items: Iterable[Any], on_result: OnResult, **loop: Any) -> str | None:
        """The task's items through the engine, each in its own window (runs/loop.py); why it stopped, or None."""
        assert self.backend is not None, "load the engine first"
        return run_items(task, items, self.backend, self.meter, on_result, **loop)

    def hardware(self, disk_bytes: int | None, facts: dict[str, Any] | None = None) -> dict[str, Any]:
        """The machine (`facts`, else read now), and the VRAM of the GPUs the engine holds only (none for a CPU
        or remote engine): what a run summary's `hardware` keeps."""
        facts = facts if facts is not None else system_facts()
        gpus_used = list(self.devices.gpus) if self.devices is not None else []
        vram = torch_peak_vram_bytes() if gpus_used else {}
        own = {f"gpu:{g}" for g in gpus_used}
        sampled = self.meter.sampler.max_memory_used_mib if self.meter.sampler is not None else {}
        sampled = {scope: mib for scope, mib in sampled.items() if scope in own}
        gpus = facts.get("gpus") or []
        if vram:
            allocated_gb: float | None = sum(vram.values()) / 1e9
        else:
            allocated_gb = sum(sampled.values()) * 2**20 / 1e9 if sampled else None
        return {
            "gpu_name": gpus[0]["name"] if gpus else None,
            "gpu_count": len(gpus),
            "gpus_used": gpus_used,
            "gpus": gpus,
            "gpu_vram_total_gb": sum(g["memory_total_gib"] or 0 for g in gpus) * 2**30 / 1e9 if gpus else None,
            "gpu_vram_allocated_gb": allocated_gb,
            "model_disk_size_gb": None if disk_bytes is None else disk_bytes / 1e9,
            "model_load_time_seconds": self.load_s,
            "peak_rss_gb": peak_rss_bytes() / 1e9,
            "cpu": facts.get("cpu"),
            "hostname": facts.get("hostname"),
            "os": facts.get("os"),
            "driver_version": facts.get("driver_version"),
            "cuda_driver_version": facts.get("cuda_driver_version"),
        }


def _server_processes(backend: Backend, devices: Devices) -> Callable[[], set[int]]:
    """A server on this machine that the engine talks to is the run's own on its GPUs: the process tree listening
    on its port (looked up at each check, since a server may restart)."""
    from wattbench.energy.devices import is_local_url
    from wattbench.energy.gpu_processes import listening_pids, server_port, tree

    url = getattr(backend, "base_url", None)
    port = server_port(url) if isinstance(url, str) and devices.local and is_local_url(url) else None
    if port is None:
        return set
    return lambda: tree(listening_pids(port))
