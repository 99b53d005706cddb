"""NVIDIA GPUs through NVML (the `nvidia-ml-py` package, imported as `pynvml`).

Energy comes from the total-energy counter (`nvmlDeviceGetTotalEnergyConsumption`, mJ since the driver loaded)
read at each poll. On GPUs without that counter, power (`nvmlDeviceGetPowerUsage`, mW) is integrated by the
trapezoid rule over the real poll times, which the power sampler makes frequent. Scopes are `gpu:<NVML index>`:
the physical index, so runs on different CUDA_VISIBLE_DEVICES sets stay comparable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from wattbench.energy.base import SourceUnavailable

_WRAP_MJ = 2**64  # the counter is an unsigned 64-bit mJ value


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


class NvmlSource:
    """Energy of a set of GPUs; see the module docstring."""

    name = "nvml"

    def __init__(self, nvml: Any, indices: list[int]) -> None:
        self.nvml = nvml
        self.indices = list(indices)
        self.handles = {i: nvml.nvmlDeviceGetHandleByIndex(i) for i in self.indices}
        self._method: dict[str, str] = {}
        self._unavailable: dict[str, str] = {}
        self._last_counter_mj: dict[str, int] = {}
        self._last_power: dict[str, tuple[float, float]] = {}  # scope → (time_s, power_w)
        self._cumulative: dict[str, float] = {}
        self._warnings: list[str] = []
        for index, handle in self.handles.items():
            scope = f"gpu:{index}"
            try:
                self._last_counter_mj[scope] = int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
                self._method[scope] = "nvml_counter"
            except Exception:  # NVMLError_NotSupported on older GPUs and MIG instances
                try:
                    nvml.nvmlDeviceGetPowerUsage(handle)
                    self._method[scope] = "nvml_power_sampling"
                except Exception as exc:
                    self._unavailable[scope] = f"NVML reports neither an energy counter nor power ({exc})"
                    continue
            self._cumulative[scope] = 0.0

    def scopes(self) -> list[str]:
        return list(self._cumulative)

    def unavailable(self) -> dict[str, str]:
        return dict(self._unavailable)

    def methods(self) -> dict[str, str]:
        return dict(self._method)

    def warnings(self) -> list[str]:
        drained, self._warnings = self._warnings, []
        return drained

    def _poll_counter(self, scope: str, handle: Any) -> None:
        current = int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        previous = self._last_counter_mj[scope]
        if current >= previous:
            delta = current - previous
        elif previous > _WRAP_MJ // 2:  # wrapped past 2^64 mJ
            delta = current + _WRAP_MJ - previous
        else:  # the driver reloaded and the counter restarted from 0: count what it has seen since
            delta = current
            self._warnings.append(f"{scope}: energy counter reset ({previous} → {current} mJ); counted from 0")
        self._last_counter_mj[scope] = current
        self._cumulative[scope] += delta / 1000.0

    def _poll_power(self, scope: str, handle: Any, now_s: float) -> None:
        power_w = float(self.nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0
        last = self._last_power.get(scope)
        if last is not None and now_s > last[0]:
            self._cumulative[scope] += (now_s - last[0]) * (power_w + last[1]) / 2.0
        self._last_power[scope] = (now_s, power_w)

    def poll(self, now_s: float) -> None:
        for index, handle in self.handles.items():
            scope = f"gpu:{index}"
            method = self._method.get(scope)
            try:
                if method == "nvml_counter":
                    self._poll_counter(scope, handle)
                elif method == "nvml_power_sampling":
                    self._poll_power(scope, handle, now_s)
            except Exception as exc:  # a GPU that fell off the bus must not stop the run
                self._warnings.append(f"{scope}: NVML read failed ({exc})")

    def cumulative_j(self) -> dict[str, float]:
        return dict(self._cumulative)


def open_source(context: Any) -> NvmlSource:
    """The meter registry's entry (energy/meters.py): the GPUs of `context.gpu_indices`, else the visible ones."""
    try:
        context.nvml = context.nvml or load_nvml()
    except NvmlUnavailable as exc:
        raise SourceUnavailable("gpu", str(exc)) from None
    if context.gpu_indices is None:
        context.gpu_indices, warnings = visible_devices(context.nvml)
        context.warnings.extend(warnings)
    if not context.gpu_indices:
        raise SourceUnavailable("gpu", "no GPU visible to this run (CUDA_VISIBLE_DEVICES hides them all)")
    return NvmlSource(context.nvml, context.gpu_indices)
