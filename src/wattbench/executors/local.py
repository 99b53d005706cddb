"""Executors: how a list of runs is carried out. `inline` runs them one after another; `local` packs them onto
the machine's GPUs (or CPU slots), each run a subprocess that sees only the GPUs it was given.

A run declares how many GPUs it needs. The scheduler starts every pending run that fits the free slots, in
order (first fit: a small run may start before a larger one that is still waiting), and frees a run's slots
when it exits, fails or is killed at its timeout. A run that needs more GPUs than the pool has is never started
and says so. The child sees its GPUs through CUDA_VISIBLE_DEVICES, so the energy meter and the VRAM figures in
that run cover exactly those GPUs (energy/nvml.py follows CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wattbench.backends.registry import takes_slot
from wattbench.config import ConfigError, ExperimentConfig
from wattbench.data.model_sizes import need_gb

EXECUTORS = ("inline", "local", "ray")
CONCURRENT_RUNS = "WATTBENCH_CONCURRENT_RUNS"


@dataclass
class SlotPool:
    """GPU indices (or CPU slot numbers when `cpu` is set) a scheduler may hand out."""

    slots: list[int]
    cpu: bool = False
    free: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.free = list(self.slots)

    @classmethod
    def of_gpus(cls, gpus: list[int]) -> SlotPool:
        return cls(sorted(set(gpus)))

    @classmethod
    def of_cpu(cls, count: int) -> SlotPool:
        return cls(list(range(max(1, count))), cpu=True)

    def take(self, count: int) -> list[int] | None:
        if count > len(self.free):
            return None
        taken, self.free = self.free[:count], self.free[count:]
        return taken

    def give(self, slots: list[int]) -> None:
        self.free = sorted(set(self.free) | set(slots))

    def env_for(self, slots: list[int]) -> dict[str, str]:
        """What the child's environment needs: its GPUs; or, on a CPU slot, no GPU and its share of the cores
        (llama.cpp reads WATTBENCH_THREADS, torch and BLAS read OMP_NUM_THREADS). CONCURRENT_RUNS tells the run
        how many may share this machine's CPU package, whose RAPL energy is one figure for all of them."""
        shared = {CONCURRENT_RUNS: str(len(self.slots))}
        if not self.cpu:
            return {"CUDA_VISIBLE_DEVICES": ",".join(map(str, slots)), **shared}
        threads = str(max(1, (os.cpu_count() or 1) // len(self.slots)))
        return {"CUDA_VISIBLE_DEVICES": "", "WATTBENCH_THREADS": threads, "OMP_NUM_THREADS": threads, **shared}


@dataclass
class Task:
    key: str
    slots_needed: int
    start: Callable[[dict[str, str]], subprocess.Popen]
    """Starts the run with these extra environment variables; the process must lead its own session."""
    timeout_s: float


@dataclass
class TaskResult:
    key: str
    status: str
    """passed, failed, timed_out or unschedulable."""
    slots: list[int] = field(default_factory=list)
    returncode: int | None = None
    started_s: float | None = None
    ended_s: float | None = None
    reason: str = ""
    pid: int | None = None
    started_at: float | None = None
    """Epoch seconds (started_s and ended_s are on the scheduler's clock)."""


def slots_needed(config: ExperimentConfig, per_gpu_gb: float | None, params_b: float | None, cpu: bool) -> int:
    """GPUs a run needs: those its config names, its tensor-parallel size, or its weights over one GPU's
    memory; API models need none. On CPU slots every run takes one slot."""
    if cpu:
        return 1
    if not takes_slot(config.provider):  # an API client: the model runs elsewhere
        return 0
    if config.generation.gpus:
        return len(config.generation.gpus)
    if config.generation.tensor_parallel > 1:
        return config.generation.tensor_parallel
    if params_b and per_gpu_gb:
        return max(1, math.ceil(need_gb(params_b, config.generation.dtype) / per_gpu_gb))
    return 1


def run_local(
    tasks: list[Task],
    pool: SlotPool,
    *,
    kill: Callable[[subprocess.Popen], None],
    notify: Callable[[TaskResult], None] = lambda result: None,
    poll_s: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
) -> list[TaskResult]:
    """Run every task, at most as many at once as the pool's slots allow; results in task order."""
    results: dict[str, TaskResult] = {}
    pending: list[Task] = []
    for task in tasks:
        if task.slots_needed > len(pool.slots):
            what = "CPU slots" if pool.cpu else "GPUs"
            results[task.key] = TaskResult(
                task.key, "unschedulable", reason=f"needs {task.slots_needed} {what}; the pool has {len(pool.slots)}"
            )
            notify(results[task.key])
        else:
            pending.append(task)
    running: dict[str, tuple[Task, subprocess.Popen, TaskResult]] = {}
    try:
        while pending or running:
            for task in list(pending):
                slots = pool.take(task.slots_needed)
                if slots is None:
                    continue
                pending.remove(task)
                process = task.start(pool.env_for(slots))
                running[task.key] = (
                    task,
                    process,
                    TaskResult(task.key, "running", slots, started_s=clock(), pid=process.pid, started_at=time.time()),
                )
            for key, (task, process, result) in list(running.items()):
                code = process.poll()
                if code is None and clock() - (result.started_s or 0.0) <= task.timeout_s:
                    continue
                if code is None:
                    kill(process)
                    result.status, result.reason = "timed_out", f"killed after {task.timeout_s / 60:g} min"
                else:
                    kill(process)  # children the run left behind must not keep its GPUs
                    result.status = "passed" if code == 0 else "failed"
                result.returncode, result.ended_s = process.returncode, clock()
                pool.give(result.slots)
                del running[key]
                results[key] = result
                notify(result)
            if pending or running:
                time.sleep(poll_s)
    except KeyboardInterrupt:
        for _, process, _ in running.values():
            kill(process)
        raise
    return [results[t.key] for t in tasks]


def check_executor(name: str) -> None:
    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name}: unknown; use one of: {', '.join(EXECUTORS)}")


def make_pool(
    executor: str, gpus: list[int] | None, cpu_slots: int | None, inventory: dict[int, float]
) -> tuple[SlotPool | None, float | None, str]:
    """(pool, memory of the smallest GPU in it in GB, a line saying what was chosen) for `--executor`.
    `inventory` is the visible GPUs (index → GB); with none, the local executor runs on `cpu_slots` CPU slots."""
    check_executor(executor)
    if executor != "local":
        return None, None, f"{executor}: no slot pool"
    if gpus:
        missing = [g for g in gpus if g not in inventory]
        if missing:
            seen = ", ".join(map(str, inventory)) or "none"
            raise ConfigError(f"--gpus: GPU {missing[0]} is not visible here (visible: {seen})")
        chosen = sorted(set(gpus))
    else:
        chosen = sorted(inventory)
    if chosen and cpu_slots is None:
        smallest = min(inventory[g] for g in chosen)
        return SlotPool.of_gpus(chosen), smallest, f"local: {len(chosen)} GPU slot(s) {chosen}"
    count = cpu_slots or 1
    why = "no GPU visible" if not chosen else "--slots given"
    return SlotPool.of_cpu(count), None, f"local: {count} CPU slot(s) ({why}; each run sees no GPU)"
