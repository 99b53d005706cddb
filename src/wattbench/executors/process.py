"""A job as a subprocess in its own session, watched against its wall-clock limit: the one wait / timeout /
kill-the-group of every executor.

A subprocess per run means a crash, a CUDA OOM or a leaked server cannot take the next run down, and the GPU
memory is free again when it exits. Each runs in its own process group (session); at the limit, and after it
exits, the whole group gets SIGTERM, then SIGKILL after a grace period, so a managed vLLM server or any other
child dies with it instead of holding the GPU for the next run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from wattbench.children import die_with_parent
from wattbench.executors.job import Status
from wattbench.signals import interrupted_by

KILL_GRACE_S = 10.0


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed user: still there
        return True
    return True


def kill_group(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group, SIGKILL to whatever is left after the grace period."""
    kill_groups([process])


def kill_groups(processes: list[subprocess.Popen]) -> None:
    """`kill_group` for several at once: every group gets SIGTERM before any is waited for, so stopping a
    campaign of N runs takes one grace period, not N, and no run goes on answering while another is waited on."""
    for sig, grace_s in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        alive = [p for p in processes if group_alive(p.pid)]
        if not alive:
            break
        for process in alive:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if all(p.poll() is not None and not group_alive(p.pid) for p in alive):
                break
            time.sleep(0.1)
    for process in processes:
        process.poll()


def start_process(
    command: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    *,
    cwd: Path | None = None,
    tied_to_parent: bool = False,
) -> subprocess.Popen:
    """Start `command` as the leader of a new session (so its whole group can be killed), output to the log.
    `tied_to_parent`: the process dies with this one (see die_with_parent)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        note = " ".join(f"{k}={v}" for k, v in (env or {}).items())
        log.write(f"$ {note + ' ' if note else ''}{' '.join(command)}\n".encode())
        log.flush()
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            preexec_fn=die_with_parent if tied_to_parent else None,  # noqa: PLW1509 — only sets a signal
        )


@dataclass
class Watched:
    """A started job's process against its limit. `check()` is None while it runs; once it has exited or
    overrun, its group is killed and `check()` says how it ended."""

    process: subprocess.Popen
    timeout_s: float
    log_path: Path
    started_s: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)
    """Epoch seconds (started_s is on the monotonic clock)."""
    ended_s: float | None = None

    def check(self) -> tuple[Status, str] | None:
        code = self.process.poll()
        if code is None and time.monotonic() - self.started_s <= self.timeout_s:
            return None
        # Whatever the job left (a killed leader's children included) must not outlive it.
        kill_group(self.process)
        self.ended_s = time.monotonic()
        if code is None:
            return "timed_out", f"killed after {self.timeout_s / 60:g} min"
        if code != 0:
            return "failed", f"exit {code}: {last_line(self.log_path)}"
        return "passed", ""

    def wait(self, poll_s: float = 0.2) -> tuple[Status, str]:
        """Until it ends. A first Ctrl-C is passed on to the run (in a session of its own, it does not get the
        terminal's): it finishes its current item, saves and exits; a second one, or a SIGTERM, kills the group.
        Either way the job is `interrupted`."""
        try:
            while (ended := self.check()) is None:
                time.sleep(poll_s)
        except KeyboardInterrupt:
            if interrupted_by() == "Ctrl-C" and self.process.poll() is None:
                try:
                    os.killpg(self.process.pid, signal.SIGINT)
                    while self.check() is None:
                        time.sleep(poll_s)
                except KeyboardInterrupt:
                    pass
            self.stop()
            return "interrupted", interrupted_by()
        return ended

    def stop(self) -> None:
        stop_all([self])

    @property
    def duration_s(self) -> float:
        return (self.ended_s or time.monotonic()) - self.started_s


def stop_all(watched: list[Watched]) -> None:
    """Stop every job at once (their groups signalled together: `kill_groups`)."""
    kill_groups([w.process for w in watched])
    for w in watched:
        w.ended_s = time.monotonic()


def last_line(path: Path) -> str:
    if not path.exists():
        return "no output"
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "no output"
