"""What an executor is given (`Job`) and what it gives back (`Outcome`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Status = Literal["passed", "failed", "skipped", "timed_out", "interrupted"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "skipped", "timed_out", "interrupted")


@dataclass
class Shipment:
    """How a job runs on a machine that shares no filesystem with this one (Ray): `files` are placed in a scratch
    folder before `command` starts; `land` writes what the job wrote under `out/` into this machine's store.
    In `command` and in text files, SCRATCH stands for the scratch folder and PYTHON for the node's Python."""

    command: list[str]
    files: dict[str, bytes]
    land: Callable[[dict[str, bytes]], None]
    data_dir: Path | None = None


@dataclass
class Job:
    key: str
    """Unique among the jobs of one call: the run's name."""
    label: str
    """What the Outcome's `config` shows: the config file or models CSV the job came from."""
    command: list[str]
    """Run on this machine (inline, local) in its own session, output to `log_path`."""
    log_path: Path
    timeout_s: float
    gpus: int = 1
    """GPUs asked for by count: 0 for a job whose model runs elsewhere (an API), else at least 1."""
    gpu_memory_gb: float | None = None
    """What the job's weights need in all; an executor that knows its GPUs' memory asks for enough of them."""
    ship: Callable[[], Shipment] | None = None
    """Builds the job's Shipment, only for an executor that ships (it reads the files to send)."""

    def gpus_on(self, per_gpu_gb: float | None) -> int:
        """GPUs this job needs where each GPU has `per_gpu_gb` (None: unknown, the count asked for)."""
        if self.gpus == 0:
            return 0
        if self.gpu_memory_gb and per_gpu_gb:
            return max(self.gpus, math.ceil(self.gpu_memory_gb / per_gpu_gb))
        return self.gpus


@dataclass
class Outcome:
    config: str
    name: str | None
    status: Status
    reason: str = ""
    duration_s: float = 0.0
    pid: int | None = None
    log: str | None = None
    devices: str = ""
    """Where the job ran: the local executor's slots ("GPU 0,1", "CPU slot 1"), Ray's node and GPUs; empty
    inline."""
    started_at: float | None = None
    """Epoch seconds when the job started (None: never started)."""

    def line(self) -> str:
        where = f" on {self.devices}" if self.devices else ""
        return f"{self.name}: {self.status}{where}{': ' + self.reason if self.reason else ''}"


Notify = Callable[[Outcome], None]
Say = Callable[[str], None]
