"""Facts about the machine and the model: GPUs, CPU, memory, peak VRAM and RSS, model disk size."""

from __future__ import annotations

import os
import platform
import resource
import socket
import sys
from pathlib import Path
from typing import Any

from wattbench.energy.nvml import NvmlUnavailable, decode_text, load_nvml


def _try(call, *args) -> Any:
    try:
        return call(*args)
    except Exception:  # a query this GPU or driver does not support
        return None


def gpu_facts(nvml: Any) -> list[dict[str, Any]]:
    """One dict per GPU NVML sees: index, name, uuid, memory, power limit, whether it has an energy counter."""
    gpus = []
    for index in range(int(nvml.nvmlDeviceGetCount())):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        memory = _try(nvml.nvmlDeviceGetMemoryInfo, handle)
        limit_mw = _try(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        gpus.append(
            {
                "index": index,
                "name": decode_text(nvml.nvmlDeviceGetName(handle)),
                "uuid": decode_text(nvml.nvmlDeviceGetUUID(handle)),
                "memory_total_gib": None if memory is None else memory.total / 2**30,
                "power_limit_w": None if limit_mw is None else limit_mw / 1000.0,
                "energy_counter": _try(nvml.nvmlDeviceGetTotalEnergyConsumption, handle) is not None,
            }
        )
    return gpus


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def peak_rss_bytes() -> int:
    """This process's peak resident memory."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB, macOS bytes


def torch_peak_vram_bytes() -> dict[str, int] | None:
    """Peak memory torch allocated on each CUDA device of this process; None when torch has no CUDA here."""
    torch = sys.modules.get("torch")  # never import torch just to ask
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return {f"cuda:{i}": int(torch.cuda.max_memory_allocated(i)) for i in range(torch.cuda.device_count())}


def directory_bytes(path: Path) -> int:
    """Real bytes under `path`: symlinks resolved, and each file counted once however many links reach it."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                info = os.stat(os.path.join(folder, name))  # follows the symlinks of an HF snapshot to its blobs
            except OSError:
                continue  # a dangling link
            key = (info.st_dev, info.st_ino)
            if key not in seen:
                seen.add(key)
                total += info.st_size
    return total


def model_disk_bytes(model: str | os.PathLike[str]) -> int | None:
    """Disk size of a model: a file (GGUF), a local dir, or a Hugging Face id found in the local cache."""
    path = Path(model).expanduser()
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return directory_bytes(path)
    try:
        from huggingface_hub import snapshot_download

        return directory_bytes(Path(snapshot_download(repo_id=str(model), local_files_only=True)))
    except Exception:  # not cached here: unknown, not 0
        return None


def system_facts() -> dict[str, Any]:
    """Everything `wattbench hw` prints and run summaries record about the machine."""
    facts: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu": {"model": cpu_model(), "logical_cores": os.cpu_count(), "ram_gib": ram_gib()},
        "gpus": [],
        "driver_version": None,
        "cuda_driver_version": None,
        "unavailable": {},
    }
    try:
        nvml = load_nvml()
    except NvmlUnavailable as exc:
        facts["unavailable"]["gpu"] = str(exc)
        return facts
    facts["gpus"] = gpu_facts(nvml)
    facts["driver_version"] = _try(lambda: decode_text(nvml.nvmlSystemGetDriverVersion()))
    cuda = _try(nvml.nvmlSystemGetCudaDriverVersion)
    facts["cuda_driver_version"] = None if cuda is None else f"{cuda // 1000}.{cuda % 1000 // 10}"
    return facts


def _gpu_memory(nvml: Any | None) -> dict[int, Any]:
    """NVML index → memory info (total, free, used in bytes) of each GPU this process may use; empty when NVML
    sees none."""
    from wattbench.energy.nvml import visible_devices

    try:
        nvml = nvml or load_nvml()
    except NvmlUnavailable:
        return {}
    indices, _ = visible_devices(nvml)
    return {i: nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(i)) for i in indices}


def free_memory_gb(nvml: Any | None = None) -> tuple[float | None, str]:
    """(free GB, where): free memory summed over the visible GPUs, or available RAM when NVML sees no GPU
    (a CPU run). None when neither can be read."""
    memory = _gpu_memory(nvml)
    if memory:
        return sum(m.free for m in memory.values()) / 1e9, f"{len(memory)} GPU(s)"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 / 1e9, "RAM (no GPU visible)"
    except (OSError, ValueError, IndexError):
        pass
    return None, "unknown"


def visible_gpus(nvml: Any | None = None) -> dict[int, float]:
    """NVML index → total memory (GB) of each GPU this process may use; empty when NVML sees none."""
    return {index: m.total / 1e9 for index, m in _gpu_memory(nvml).items()}
