"""One `wattbench run` as a subprocess in its own session, with a wall-clock limit.

A subprocess per run means a crash, a CUDA OOM or a leaked server cannot take the next run down, and the GPU
memory is free again when it exits. Each runs in its own process group (session); at the limit the whole group
gets SIGTERM, then SIGKILL after a grace period, so a managed vLLM server or any other child dies with it instead
of holding the GPU for the next run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from wattbench.children import die_with_parent
from wattbench.config import ExperimentConfig

KILL_GRACE_S = 10.0


@dataclass
class Outcome:
    config: str
    name: str | None
    status: str
    """passed, failed, skipped, timed_out or interrupted."""
    reason: str = ""
    duration_s: float = 0.0
    pid: int | None = None
    log: str | None = None
    devices: str = ""
    """Where the run ran: the local executor's slots ("GPU 0,1", "CPU slot 1"), Ray's node and GPUs; empty
    inline."""
    started_at: float | None = None
    """Epoch seconds when the run started (None: never started)."""


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
    for sig, grace_s in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        if not group_alive(process.pid):
            break
        os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if process.poll() is not None and not group_alive(process.pid):
                break
            time.sleep(0.1)
    process.poll()


def run_command(path: Path, config: ExperimentConfig, data_dir: Path | None, force: bool) -> list[str]:
    command = [sys.executable, "-m", "wattbench", "run", "--config", str(path), "--name", config.name, "--quiet"]
    command += ["--limit", str(config.limit)] if config.limit else []
    command += ["--force"] if force else []
    command += ["--data-dir", str(data_dir)] if data_dir else []
    return command


def start_run(
    command: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    *,
    cwd: Path | None = None,
    tied_to_parent: bool = False,
) -> subprocess.Popen:
    """Start `command` as the leader of a new session (so its whole group can be killed), output to the log.
    `tied_to_parent`: the run dies with this process (see die_with_parent)."""
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


def run_config(
    path: Path,
    config: ExperimentConfig,
    *,
    timeout_s: float,
    log_dir: Path,
    data_dir: Path | None = None,
    force: bool = False,
) -> Outcome:
    """One `wattbench run` in its own session; its output goes to `<log_dir>/<name>.log`."""
    log_path = log_dir / f"{config.name}.log"
    started = time.monotonic()
    process = start_run(run_command(path, config, data_dir, force), log_path)
    outcome = Outcome(str(path), config.name, "passed", pid=process.pid, log=str(log_path), started_at=time.time())
    try:
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(process)
        outcome.status, outcome.reason = "timed_out", f"killed after {timeout_s / 60:g} min"
    except KeyboardInterrupt:
        kill_group(process)
        outcome.status, outcome.reason = "interrupted", "Ctrl-C"
    else:
        if code != 0:
            outcome.status, outcome.reason = "failed", f"exit {code}: {last_line(log_path)}"
    outcome.duration_s = time.monotonic() - started
    # Whatever the run left (a killed leader's children included) must not outlive it.
    kill_group(process)
    return outcome


def last_line(path: Path) -> str:
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "no output"
