"""Which devices a model's work runs on, and therefore which scopes a run may call its own energy.

A backend answers `devices()` with a `Devices`; the run then keeps, of everything the meter read, exactly the
scopes of those devices (`scope_rule`). GPUs are named by NVML index, the physical numbering the meter uses,
matched by UUID where the engine reports CUDA devices, so a run under CUDA_VISIBLE_DEVICES=2,3 still names
GPUs 2 and 3.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from wattbench.energy.base import scope_kind

REMOTE = (
    "remote server: the model runs on another machine, whose energy this one cannot measure (measure it there, "
    "or run the server here and name its GPUs with --gpus)"
)
REMOTE_API = (
    "remote API: the model runs on the provider's machines, whose energy no meter here can see and for which the "
    "provider publishes no per-request figure"
)
UNNAMED_SERVER_GPUS = (
    "an OpenAI-compatible server on this machine, on GPUs not named: name the server's GPUs with --gpus "
    "(generation.gpus) so that exactly those are measured"
)


@dataclass(frozen=True)
class Devices:
    """Where a model's work happens, as the meter needs to know it."""

    gpus: tuple[int, ...] = ()
    """NVML indices of the GPUs the engine holds (empty: it uses none)."""
    local: bool = True
    """False: the model runs on another machine (an API, a remote server); nothing measured here is its energy."""
    gpu_unknown: str | None = None
    """Why the engine's GPUs cannot be named (a server on this machine whose GPUs were not given)."""
    labels: tuple[str, ...] = field(default=())
    """What the engine itself calls its devices ("cuda:0", "cpu"), for summaries."""
    remote_reason: str = REMOTE
    """Not local: why its energy is unavailable (a remote server, a remote API)."""
    metered_remotely: bool = False
    """Its host's GPUs are measured by a meter agent there (`--meter-url`): the agent's GPU energy is the run's
    (and its headline); a host other than this one has its CPU unmeasured."""

    def to_dict(self) -> dict[str, Any]:
        out = {"gpus": list(self.gpus), "local": self.local, "gpu_unknown": self.gpu_unknown,
               "labels": list(self.labels)}  # fmt: skip
        return {**out, "metered_remotely": True} if self.metered_remotely else out


def as_devices(value: Any) -> Devices:
    """A backend's `devices()` answer as Devices; engines written before Devices answered a list of labels
    ("cpu", "cuda:0", "remote", GPU indices), read here the way they meant it."""
    if isinstance(value, Devices):
        return value
    labels = [str(v) for v in value or []]
    if "remote" in labels:
        return remote()
    cuda = [int(label.split(":")[1]) for label in labels if label.startswith("cuda:") and label[5:].isdigit()]
    gpus = [int(label) for label in labels if label.isdigit()]
    if cuda:
        gpus += cuda_to_nvml(cuda)
    return Devices(gpus=tuple(sorted(set(gpus))), labels=tuple(labels))


def remote(reason: str = REMOTE) -> Devices:
    return Devices(local=False, labels=("remote",), remote_reason=reason)


def cpu_only(label: str = "cpu") -> Devices:
    return Devices(labels=(label,))


def scope_rule(devices: Devices) -> tuple[Callable[[str], bool], dict[str, str]]:
    """(which scopes belong to the run, the reasons for the kinds that do not): only the engine's GPUs; the CPU
    package and DRAM only when the model runs on this machine."""
    if not devices.local:
        why = devices.remote_reason
        return (lambda scope: False), {"gpu": why, "cpu": why, "dram": why}
    gpus = {f"gpu:{index}" for index in devices.gpus}
    reasons: dict[str, str] = {}
    if devices.gpu_unknown:
        reasons["gpu"] = devices.gpu_unknown
    return (lambda scope: scope_kind(scope) != "gpu" or scope in gpus), reasons


def is_local_url(url: str) -> bool:
    """Whether a server URL points at this machine (loopback, or one of this host's own names or addresses).
    Cheap checks first: the name lookups below only run for a host that is neither loopback nor this host."""
    host = urlparse(url).hostname or ""
    if host in ("localhost", "", socket.gethostname()):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == socket.getfqdn():
            return True
        try:
            address = ipaddress.ip_address(socket.gethostbyname(host))
        except (OSError, ValueError):
            return False  # a name that does not resolve here is not this machine
    if address.is_loopback or address.is_unspecified:
        return True
    try:
        own = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        own = set()
    return str(address) in own


def server_devices(url: str, gpus: list[int] | None) -> Devices:
    """An OpenAI-compatible server: remote unless on this machine; on this machine, the GPUs it was named."""
    if not is_local_url(url):
        return remote()
    if gpus:
        return Devices(gpus=tuple(gpus), labels=tuple(f"gpu:{g}" for g in gpus))
    return Devices(gpu_unknown=UNNAMED_SERVER_GPUS, labels=("local server",))


def visible_nvml_indices(nvml: Any = None) -> list[int]:
    """NVML indices of the GPUs this process may use (CUDA_VISIBLE_DEVICES); [] without NVML."""
    from wattbench.energy.nvml import NvmlUnavailable, load_nvml, visible_devices

    try:
        nvml = nvml or load_nvml()
    except NvmlUnavailable:
        return []
    return visible_devices(nvml)[0]


def cuda_to_nvml(cuda_indices: list[int], nvml: Any = None, uuids: dict[int, str] | None = None) -> list[int]:
    """NVML indices of CUDA devices (torch numbering inside CUDA_VISIBLE_DEVICES): by UUID where torch reports
    one, else by position among the visible GPUs."""
    from wattbench.energy.nvml import NvmlUnavailable, device_uuid, load_nvml

    try:
        nvml = nvml or load_nvml()
    except NvmlUnavailable:
        return []
    visible = visible_nvml_indices(nvml)
    by_uuid = {device_uuid(nvml, i).removeprefix("GPU-"): i for i in range(int(nvml.nvmlDeviceGetCount()))}
    out = []
    for cuda in cuda_indices:
        uuid = (uuids or {}).get(cuda) or _torch_uuid(cuda)
        if uuid and uuid.removeprefix("GPU-") in by_uuid:
            out.append(by_uuid[uuid.removeprefix("GPU-")])
        elif cuda < len(visible):
            out.append(visible[cuda])
    return sorted(set(out))


def _torch_uuid(cuda_index: int) -> str | None:
    try:
        import torch

        return str(torch.cuda.get_device_properties(cuda_index).uuid)
    except Exception:  # no torch, no CUDA, or an older torch without uuid
        return None


def slot_gpus() -> list[int] | None:
    """The GPUs an executor slot gave this process (local and ray set WATTBENCH_SLOT_GPUS); None outside one."""
    raw = os.environ.get("WATTBENCH_SLOT_GPUS")
    if raw is None:
        return None
    return [int(part) for part in raw.split(",") if part.strip().isdigit()]
