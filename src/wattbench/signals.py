"""SIGTERM handled as Ctrl-C is: schedulers (Slurm, Kubernetes, `timeout`, systemd) stop a job with SIGTERM, and a
run stopped that way must be recorded as interrupted (resumable), with its children stopped, not killed mid-write.

`install()` makes SIGTERM raise `Terminated`, a KeyboardInterrupt, so every place that already handles Ctrl-C
(a run marked incomplete, a batch row recorded as interrupted, an executor killing its jobs' groups) handles it
too. The exit code tells them apart: 130 for SIGINT, 143 for SIGTERM, as shells do.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

SIGINT_EXIT = 130
SIGTERM_EXIT = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived."""


_state = {"terminated": False}


def _on_sigterm(signum: int, frame: Any) -> None:
    _state["terminated"] = True
    raise Terminated


def install() -> None:
    """SIGTERM raises Terminated in the main thread from now on (a no-op outside it)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def terminated() -> bool:
    """Whether SIGTERM has arrived in this process."""
    return _state["terminated"]


def interrupt_exit_code() -> int:
    """143 after a SIGTERM, else 130 (Ctrl-C)."""
    return SIGTERM_EXIT if terminated() else SIGINT_EXIT


def interrupted_by() -> str:
    """How the process was interrupted, for a record's reason."""
    return "SIGTERM" if terminated() else "Ctrl-C"
