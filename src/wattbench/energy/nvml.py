"""NVIDIA GPUs through NVML (the `nvidia-ml-py` package, imported as `pynvml`).

Energy comes from the total-energy counter (`nvmlDeviceGetTotalEnergyConsumption`, mJ since the driver loaded)
read at each poll. Power is read at each poll too: the instantaneous field (NVML_FI_DEV_POWER_INSTANT) where the
driver has it, else `nvmlDeviceGetPowerUsage` (a 1-second average on Ampere and newer), integrated by the
trapezoid rule over the real poll times (window edges included; the power sampler makes polls frequent). On GPUs
without the counter that integral is the energy; elsewhere it estimates windows too short for the counter's
steps and cross-checks long ones (energy/gpu_counter.py). Scopes are `gpu:<NVML index>`: the physical index, so
runs on different CUDA_VISIBLE_DEVICES sets stay comparable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from wattbench.energy.base import SourceUnavailable, Verdict
from wattbench.energy.gpu_counter import NVML, GpuTrack, judge
from wattbench.energy.gpu_processes import ProcessWatch, sharing_warning

MIG_REASON = (
    "NVML cannot measure a MIG slice: energy and power are reported for the whole GPU, shared with every other "
    "slice on it; measure on a GPU with MIG disabled (nvidia-smi -mig 0)"
)


def mig_reason(nvml: Any, indices: list[int] | None, env: Mapping[str, str] | None = None) -> str | None:
    """Why GPU energy cannot be measured when this run sees MIG instances: a MIG UUID in CUDA_VISIBLE_DEVICES,
    or a GPU to be measured with MIG mode on. None when no MIG is involved."""
    env = os.environ if env is None else env
    entries = [part.strip() for part in env.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    if any(entry.startswith("MIG-") for entry in entries):
        return f"CUDA_VISIBLE_DEVICES names a MIG instance; {MIG_REASON}"
    getter = getattr(nvml, "nvmlDeviceGetMigMode", None)
    for index in indices if indices is not None else range(int(nvml.nvmlDeviceGetCount())):
        try:
            current, _pending = getter(nvml.nvmlDeviceGetHandleByIndex(index)) if getter else (0, 0)
        except Exception:  # GPUs without MIG support answer NotSupported
            continue
        if current:
            return f"GPU {index} is in MIG mode; {MIG_REASON}"
    return None


class NvmlUnavailable(Exception):
    """NVML cannot be used here; the message is the reason."""


def load_nvml() -> Any:
    """Import and initialise pynvml, or raise NvmlUnavailable with the reason."""
    try:
        import pynvml
    except ImportError:
        raise NvmlUnavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError: no driver, no GPU, library missing
        raise NvmlUnavailable(f"NVML did not start ({exc}); no NVIDIA driver or GPU on this machine") from None
    return pynvml


def decode_text(value: Any) -> str:
    """NVML strings arrive as bytes in older bindings and as str in newer ones."""
    return value.decode() if isinstance(value, bytes) else str(value)


def device_uuid(nvml: Any, index: int) -> str:
    return decode_text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(index)))


def visible_devices(nvml: Any, env: Mapping[str, str] | None = None) -> tuple[list[int], list[str]]:
    """NVML indices of the GPUs this process may use, from CUDA_VISIBLE_DEVICES (indices, UUIDs or UUID prefixes).

    Follows CUDA: an invalid entry hides it and every entry after it. Returns (indices, warnings). Indices
    assume CUDA_DEVICE_ORDER=PCI_BUS_ID, the order NVML uses; a warning says so when it is not set.
    """
    env = os.environ if env is None else env
    count = int(nvml.nvmlDeviceGetCount())
    raw = env.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return list(range(count)), []
    warnings: list[str] = []
    uuids = [device_uuid(nvml, i) for i in range(count)]
    out: list[int] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item or item == "-1":
            break
        if item.isdigit():
            index = int(item)
            if index >= count:
                warnings.append(f"CUDA_VISIBLE_DEVICES entry '{item}' is not a GPU here; it and later entries hidden")
                break
            out.append(index)
            if env.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
                warnings.append(
                    "CUDA_VISIBLE_DEVICES gives indices without CUDA_DEVICE_ORDER=PCI_BUS_ID; "
                    "CUDA and NVML may number GPUs differently"
                )
            continue
        wanted = item if item.startswith(("GPU-", "MIG-")) else f"GPU-{item}"
        matches = [i for i, u in enumerate(uuids) if u.startswith(wanted)]
        if len(matches) != 1:
            warnings.append(f"CUDA_VISIBLE_DEVICES entry '{item}' matches {len(matches)} GPUs; it and later hidden")
            break
        out.append(matches[0])
    return sorted(set(out), key=out.index), sorted(set(warnings), key=warnings.index)


POWER_INSTANT_FIELD = 186
"""NVML_FI_DEV_POWER_INSTANT: the instantaneous power field (nvmlDeviceGetFieldValues), in mW."""


def read_power_w(nvml: Any, handle: Any, instant: bool = True) -> tuple[float, str]:
    """(power in W, "instant" or "average"): the instantaneous field where the driver has it, else
    nvmlDeviceGetPowerUsage, which NVML documents as a 1-second average on Ampere and newer. `instant=False`:
    the GPU is known to lack the field, so it is not asked for again at every poll."""
    field = getattr(nvml, "NVML_FI_DEV_POWER_INSTANT", POWER_INSTANT_FIELD)
    getter = getattr(nvml, "nvmlDeviceGetFieldValues", None) if instant else None
    if getter is not None:
        try:
            value = getter(handle, [field])[0]
            if getattr(value, "nvmlReturn", 1) == 0:
                return float(value.value.uiVal) / 1000.0, "instant"
        except Exception:  # an older driver without the field: the averaged reading below
            pass
    return float(nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0, "average"


class NvmlSource:
    """Energy of a set of GPUs; see the module docstring. Every poll reads the counter (where there is one) and
    power, so each window has both: the counter is the figure, power covers windows the counter cannot resolve
    and checks it over long ones (energy/gpu_counter.py, shared with the meter agent's readings)."""

    name = "nvml"

    def __init__(self, nvml: Any, indices: list[int]) -> None:
        self.nvml = nvml
        self.indices = list(indices)
        self._gpus: dict[str, GpuTrack] = {}
        self._handles: dict[str, Any] = {}
        self._unavailable: dict[str, str] = {}
        self._warnings: list[str] = []
        for index in self.indices:
            scope = f"gpu:{index}"
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            try:
                _, power_kind = read_power_w(nvml, handle)
            except Exception as exc:
                self._unavailable[scope] = f"NVML reports no power for this GPU ({exc})"
                continue
            self._handles[scope] = handle
            try:
                counter = int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
                self._gpus[scope] = GpuTrack(True, power_kind, counter_mj=counter)
            except Exception:  # NVMLError_NotSupported before Volta
                self._gpus[scope] = GpuTrack(False, power_kind)
        self.processes = ProcessWatch(nvml, self._handles)

    def scopes(self) -> list[str]:
        return list(self._gpus)

    def unavailable(self) -> dict[str, str]:
        return dict(self._unavailable)

    def methods(self) -> dict[str, str]:
        return {scope: NVML.counter if g.has_counter else NVML.power_only for scope, g in self._gpus.items()}

    def power_kinds(self) -> dict[str, str]:
        """Which power reading each GPU gives: instant (NVML_FI_DEV_POWER_INSTANT) or average (1 s)."""
        return {scope: gpu.power_kind for scope, gpu in self._gpus.items()}

    def warnings(self) -> list[str]:
        drained, self._warnings = self._warnings, []
        return drained

    def last_power_w(self) -> dict[str, tuple[float, str]]:
        """The power each GPU read at the last poll, and which reading it was: the sampler's timeline uses it
        rather than reading every GPU a second time per tick."""
        return {s: (g.last_power[1], g.power_kind) for s, g in self._gpus.items() if g.last_power is not None}

    def poll(self, now_s: float) -> None:
        for scope, gpu in self._gpus.items():
            handle = self._handles[scope]
            try:
                if gpu.has_counter:
                    warning = gpu.add_counter(scope, int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle)))
                    if warning:
                        self._warnings.append(warning)
                gpu.add_power(now_s, read_power_w(self.nvml, handle, gpu.power_kind == "instant")[0])
                gpu.polls += 1
            except Exception as exc:  # a GPU that fell off the bus must not stop the run; its windows say so
                gpu.failed(str(exc) or type(exc).__name__)
        self.processes.check()

    def cumulative_j(self) -> dict[str, float]:
        return {s: g.cumulative_j() for s, g in self._gpus.items()}

    def snapshot(self) -> dict[str, Any]:
        """Per scope (counter J, power J, polls, failures, last power W), and how many times the processes were
        listed: what a window compares at its edges."""
        return {"gpus": {s: g.snapshot() for s, g in self._gpus.items()}, "checks": self.processes.checks}

    def judge(self, before: dict[str, Any], after: dict[str, Any], duration_s: float) -> Verdict:
        verdict = judge(self._gpus, before["gpus"], after["gpus"], duration_s, NVML)
        verdict.shared = self.processes.between(before["checks"], after["checks"])
        verdict.warnings += [sharing_warning(process) for process in verdict.shared]
        return verdict


def open_source(context: Any) -> NvmlSource:
    """The meter registry's entry (energy/meters.py): the GPUs of `context.gpu_indices`, else the visible ones."""
    try:
        context.nvml = context.nvml or load_nvml()
    except NvmlUnavailable as exc:
        raise SourceUnavailable("gpu", str(exc)) from None
    why = mig_reason(context.nvml, context.gpu_indices)
    if why:
        raise SourceUnavailable("gpu", why)
    if context.gpu_indices is None:
        context.gpu_indices, warnings = visible_devices(context.nvml)
        context.warnings.extend(warnings)
    if not context.gpu_indices:
        raise SourceUnavailable("gpu", "no GPU visible to this run (CUDA_VISIBLE_DEVICES hides them all)")
    return NvmlSource(context.nvml, context.gpu_indices)
