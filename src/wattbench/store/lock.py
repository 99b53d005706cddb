"""One writer per run dir and per batch dir: an advisory lock held by the writing process.

`flock` on `<dir>/.wattbench.lock`: the kernel drops it when the holder dies (a kill, a crash, a lost node),
so a stale lock never has to be cleaned by hand; the next writer simply takes it. The file says who holds it
(pid, host, command, since when) so a refused writer can name the holder. Two `run`s with one name, or two
`batch`es into one output dir, would otherwise interleave their records and each report half of the other's.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from wattbench.errors import WattbenchError

LOCK_NAME = ".wattbench.lock"


class Locked(WattbenchError):
    """Another live process is writing this dir."""


def _holder_of(text: str) -> dict[str, Any]:
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process"
    command = str(holder.get("command", ""))[:120]
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')} ({command})"


class DirLock:
    """`with DirLock(folder, what):` holds the folder's lock, or raises Locked at once naming the holder."""

    def __init__(self, folder: Path, what: str = "this folder", hint: str = "wait for it to finish") -> None:
        self.folder, self.what, self.hint = Path(folder), what, hint
        self._fd: int | None = None
        self.took_over: dict[str, Any] | None = None
        """The holder named in the file when it was taken: a process that died holding it (a stale lock)."""

    def acquire(self) -> DirLock:
        from wattbench.store.safe_io import guarded

        path = self.folder / LOCK_NAME
        with guarded(path, "take the lock in"):
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_of(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            os.close(fd)
            raise Locked(f"{self.folder}: {self.what} is being written by {_describe(holder)}; {self.hint}") from None
        previous = _holder_of(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        self.took_over = previous or None
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "command": " ".join(sys.argv)[:300]}  # fmt: skip
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
        except OSError:
            pass  # a full disk: the lock holds all the same, only the holder's name is missing
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # nobody holds it now: a later reader names no one
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
