"""Who else is on the metered GPUs: NVML's running compute and graphics processes, read with the power.

A GPU's counter measures the whole device, so a second process loading it (another user's job, a forgotten
notebook) is measured as the run's own. The NVML source reads the processes on each metered GPU at its polls
(at most every CHECK_EVERY_S, so a 10 Hz sampler does not read them ten times a second), and every window says
which processes outside the run were seen during it. The run's own are this process and its descendants (a
managed vLLM server and its workers), and the process tree of a server on this machine that the run talks to
(found by the port it listens on, Linux /proc). The energy is kept as measured: the window is flagged
`shared_gpu` with each other process (pid, name where readable, GPU memory used), and its summary, master row
and audit say so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHECK_EVERY_S = 0.5
OWN_EVERY_S = 5.0
PROC = Path("/proc")


def _parents() -> dict[int, int]:
    """pid → parent pid of every process /proc shows (empty off Linux)."""
    out: dict[int, int] = {}
    try:
        entries = list(PROC.iterdir())
    except OSError:
        return out
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            out[int(entry.name)] = int(fields[1])
    return out


def tree(roots: set[int]) -> set[int]:
    """`roots` and every descendant of them."""
    if not roots:
        return set()
    parents = _parents()
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def listening_pids(port: int) -> set[int]:
    """Processes holding a TCP socket that listens on `port` (Linux /proc; empty where it cannot be read)."""
    inodes: set[str] = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (PROC / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(parts[9])
    if not inodes:
        return set()
    pids: set[int] = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue  # another user's process: its descriptors are not ours to read
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue  # closed since it was listed
            if link.startswith("socket:[") and link[8:-1] in inodes:
                pids.add(int(entry.name))
                break
    return pids


def process_name(pid: int) -> str | None:
    try:
        return (PROC / str(pid) / "comm").read_text().strip() or None
    except OSError:
        return None


class ProcessWatch:
    """The processes on a set of GPUs that are not the run's, check by check; a window asks which were there
    between its two edges (`between`), the state at its first edge included."""

    def __init__(self, nvml: Any, handles: dict[str, Any], clock: Callable[[], float] = time.monotonic) -> None:
        self.nvml, self.handles, self.clock = nvml, handles, clock
        self.own_roots: set[int] = {os.getpid()}
        self.also_own: Callable[[], set[int]] = set
        """The engine's processes beyond this one's tree (a server on this machine); set by the run."""
        self.checks = 0
        self.info: dict[tuple[str, int], dict[str, Any]] = {}
        self._history: list[tuple[int, frozenset[tuple[str, int]]]] = [(0, frozenset())]  # only when it changes
        self._last_s: float | None = None
        self._own: tuple[float, set[int]] | None = None  # the run's process tree, and when it was read
        self.unreadable: str | None = None

    def set_engine(self, also: Callable[[], set[int]]) -> None:
        self.also_own, self._own = also, None

    def _own_tree(self, now: float) -> set[int]:
        """The run's processes, read again every OWN_EVERY_S (walking /proc is not free; a server's workers come
        and go slowly)."""
        if self._own is None or now - self._own[0] >= OWN_EVERY_S:
            self._own = (now, tree(self.own_roots | self.also_own()))
        return self._own[1]

    def check(self, force: bool = False) -> None:
        now = self.clock()
        if not force and self._last_s is not None and now - self._last_s < CHECK_EVERY_S:
            return
        self._last_s = now
        listed: list[tuple[str, Any]] = []
        for scope, handle in self.handles.items():
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                read = getattr(self.nvml, getter, None)
                if read is None:
                    continue
                try:
                    listed += [(scope, p) for p in read(handle) or []]
                except Exception as exc:  # a driver that does not list processes: said once, never fatal
                    self.unreadable = f"NVML cannot list the processes on {scope} ({exc})"
        self.checks += 1
        own = self._own_tree(now) if listed else set()
        present = set()
        for scope, process in listed:
            pid = int(getattr(process, "pid", -1))
            if pid < 0 or pid in own:
                continue
            present.add((scope, pid))
            used = getattr(process, "usedGpuMemory", None)
            memory = round(used / 2**20, 1) if isinstance(used, int) else None
            known = self.info.setdefault((scope, pid), {"scope": scope, "pid": pid, "name": process_name(pid),
                                                        "used_memory_mib": memory})  # fmt: skip
            if memory is not None and (known["used_memory_mib"] or 0) < memory:
                known["used_memory_mib"] = memory  # the most it held while seen
        if frozenset(present) != self._history[-1][1]:
            self._history.append((self.checks, frozenset(present)))

    def between(self, first: int, last: int) -> list[dict[str, Any]]:
        """The other processes present at any check from `first` (the state then) to `last` (check counts)."""
        found: set[tuple[str, int]] = set()
        for index, present in self._history:
            if index <= first:
                found = set(present)  # the state at the window's first edge
            elif index <= last:
                found |= present
        return [dict(self.info[key]) for key in sorted(found)]


def sharing_warning(process: dict[str, Any]) -> str:
    name = f" {process['name']}" if process.get("name") else ""
    memory = f", {process['used_memory_mib']:.0f} MiB" if process.get("used_memory_mib") is not None else ""
    return (f"{process['scope']}: shared with another process (pid {process['pid']}{name}{memory}) during this "
            "window; its energy is in this window's figure")  # fmt: skip


def server_port(url: str | None) -> int | None:
    """The port of a server URL on this machine (the engine a run talks to), for `listening_pids`."""
    if not url:
        return None
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        return parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        return None
