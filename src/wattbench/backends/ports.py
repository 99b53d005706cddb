"""Ports for managed servers when several runs start them at once on one machine (the local executor).

Asking the kernel for a free port and handing it to `vllm serve` leaves a gap: a second run doing the same in that
gap can be given the same number, and its client would then talk to the first run's server (same model, wrong
GPUs, wrong energy). A reservation file per port, created exclusively and naming the holder's pid, closes the gap
between wattbench processes; a file whose holder is dead is taken over.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from wattbench.children import pid_alive
from wattbench.errors import WattbenchError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def reservations_dir() -> Path:
    return Path(os.environ.get("WATTBENCH_PORTS_DIR") or Path(tempfile.gettempdir()) / "wattbench-ports")


def _holder(marker: Path) -> int | None:
    try:
        return int(marker.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


def reserve_port(
    host: str = "127.0.0.1", *, folder: Path | None = None, candidate: Callable[[str], int] = free_port,
    attempts: int = 100,
) -> int:  # fmt: skip
    """A port free now and reserved for this process until release_port."""
    folder = folder or reservations_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        port = candidate(host)
        marker = folder / str(port)
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(marker)
            if holder is not None and pid_alive(holder):
                continue
            marker.unlink(missing_ok=True)  # its holder died without releasing it: free for the next try
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        return port
    raise WattbenchError(f"no free port on {host} after {attempts} tries; reservations in {folder}")


def release_port(port: int, *, folder: Path | None = None) -> None:
    marker = (folder or reservations_dir()) / str(port)
    if _holder(marker) == os.getpid():
        marker.unlink(missing_ok=True)
