"""Child processes that must not outlive the process that started them, and whether a process still lives."""

from __future__ import annotations

import os
import signal
import sys


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent() -> None:
    """For `preexec_fn`: the child gets SIGKILL when the thread that started it dies (Linux), so a Ray worker
    lost mid-run, or a `wattbench run` killed outright, leaves no run or vLLM server holding a GPU."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
