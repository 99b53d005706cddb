"""Child processes that must not outlive the process that started them."""

from __future__ import annotations

import signal
import sys


def die_with_parent() -> None:
    """For `preexec_fn`: the child gets SIGKILL when the thread that started it dies (Linux), so a Ray worker
    lost mid-run, or a `wattbench run` killed outright, leaves no run or vLLM server holding a GPU."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
