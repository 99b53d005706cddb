"""The local executor: jobs packed onto this machine's GPUs (or CPU slots), each a subprocess that sees only the
GPUs it was given.

The scheduler starts every pending job that fits the free slots, in order (first fit: a small job may start
before a larger one that is still waiting), and frees a job's slots when it exits, fails or is killed at its
timeout. A job that needs more GPUs than the pool has is never started and says so. The child sees its GPUs
through CUDA_VISIBLE_DEVICES, so the energy meter and the VRAM figures of that run cover exactly those GPUs
(energy/nvml.py follows CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from wattbench.energy.base import CONCURRENT_RUNS
from wattbench.errors import ConfigError
from wattbench.executors.job import Job, Notify, Outcome, Say
from wattbench.executors.process import Watched, start_process, stop_all
from wattbench.executors.registry import ExecutorChoice, check_executor
from wattbench.signals import interrupted_by


@dataclass
class SlotPool:
    """GPU indices (or CPU slot numbers when `cpu` is set) a scheduler may hand out."""

    slots: list[int]
    cpu: bool = False
    per_gpu_gb: float | None = None
    """Memory of the smallest GPU in the pool, GB (None on CPU slots or when unknown)."""
    free: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.free = list(self.slots)

    @classmethod
    def of_gpus(cls, gpus: list[int], per_gpu_gb: float | None = None) -> SlotPool:
        return cls(sorted(set(gpus)), per_gpu_gb=per_gpu_gb)

    @classmethod
    def of_cpu(cls, count: int) -> SlotPool:
        return cls(list(range(max(1, count))), cpu=True)

    def need(self, job: Job) -> int:
        """Slots the job takes here: on CPU slots one each; on GPUs what its weights need of these GPUs."""
        return 1 if self.cpu else job.gpus_on(self.per_gpu_gb)

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
            gpus = ",".join(map(str, slots))
            return {"CUDA_VISIBLE_DEVICES": gpus, "WATTBENCH_SLOT_GPUS": gpus, **shared}
        threads = str(max(1, (os.cpu_count() or 1) // len(self.slots)))
        return {"CUDA_VISIBLE_DEVICES": "", "WATTBENCH_THREADS": threads, "OMP_NUM_THREADS": threads, **shared}

    def where(self, slots: list[int]) -> str:
        return f"{'CPU slot' if self.cpu else 'GPU'} {','.join(map(str, slots))}" if slots else ""


def make_pool(
    executor: str, gpus: list[int] | None, cpu_slots: int | None, inventory: dict[int, float]
) -> tuple[SlotPool | None, str]:
    """(pool, a line saying what was chosen) for `--executor`. `inventory` is the visible GPUs (index → GB);
    with none, the local executor runs on `cpu_slots` CPU slots."""
    check_executor(executor)
    if executor != "local":
        return None, f"{executor}: no slot pool"
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
        return SlotPool.of_gpus(chosen, smallest), f"local: {len(chosen)} GPU slot(s) {chosen}"
    count = cpu_slots or 1
    why = "no GPU visible" if not chosen else "--slots given"
    return SlotPool.of_cpu(count), f"local: {count} CPU slot(s) ({why}; each run sees no GPU)"


class LocalExecutor:
    def __init__(self, choice: ExecutorChoice, say: Say, pool: SlotPool | None = None, poll_s: float = 0.2) -> None:
        if pool is None:
            from wattbench.energy.hardware import visible_gpus

            pool, chosen = make_pool("local", choice.gpus, choice.cpu_slots, visible_gpus())
            assert pool is not None
            say(chosen)
        self.pool, self.poll_s = pool, poll_s

    def run(self, jobs: list[Job], notify: Notify) -> list[Outcome]:
        """Every job, at most as many at once as the pool's slots allow; outcomes in the order they finished."""
        pool, outcomes = self.pool, []
        pending: list[Job] = []
        for job in jobs:
            if pool.need(job) > len(pool.slots):
                what = "CPU slots" if pool.cpu else "GPUs"
                outcomes.append(Outcome(job.label, job.key, "failed", f"needs {pool.need(job)} {what}; the pool has "
                                        f"{len(pool.slots)}", log=str(job.log_path)))  # fmt: skip
                notify(outcomes[-1])
            else:
                pending.append(job)
        running: list[tuple[Job, Watched, list[int]]] = []
        try:
            while pending or running:
                for job in list(pending):
                    slots = pool.take(pool.need(job))
                    if slots is not None:
                        pending.remove(job)
                        process = start_process(job.command, job.log_path, pool.env_for(slots))
                        running.append((job, Watched(process, job.timeout_s, job.log_path), slots))
                for entry in list(running):
                    job, watched, slots = entry
                    ended = watched.check()
                    if ended is None:
                        continue
                    pool.give(slots)
                    running.remove(entry)
                    outcomes.append(_outcome(job, watched, ended, pool.where(slots)))
                    notify(outcomes[-1])
                if pending or running:
                    time.sleep(self.poll_s)
        except KeyboardInterrupt:
            stop_all([watched for _, watched, _ in running])
            for job, watched, slots in running:
                outcomes.append(_outcome(job, watched, ("interrupted", interrupted_by()), pool.where(slots)))
                notify(outcomes[-1])
            raise
        return outcomes


def _outcome(job: Job, watched: Watched, ended: tuple, devices: str) -> Outcome:
    status, reason = ended
    return Outcome(job.label, job.key, status, reason, watched.duration_s, watched.process.pid, str(job.log_path),
                   devices, watched.started_at)  # fmt: skip
