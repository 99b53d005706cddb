"""`wattbench benchmark`: every config of a folder as its own `wattbench run` subprocess, one at a time.

A subprocess per model means a crash, a CUDA OOM or a leaked server cannot take the next model down, and the
GPU memory is free again when it exits. Each runs in its own process group (session) with a wall-clock limit;
at the limit the whole group gets SIGTERM, then SIGKILL after a grace period, so a managed vLLM server or any
other child dies with it instead of holding the GPU for the next config.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wattbench.config import ConfigError, ExperimentConfig, load_experiment_config
from wattbench.data.model_sizes import ModelSize, params_b_of
from wattbench.runner.executors import SlotPool, Task, TaskResult, run_local, slots_needed
from wattbench.store.rundir import RunDir, write_atomically

CONFIG_SUFFIXES = (".toml", ".yaml", ".yml", ".py")
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
    """The slots the local executor gave the run ("GPU 0,1", "CPU slot 1"); empty inline."""


@dataclass
class BenchmarkPlan:
    to_run: list[tuple[Path, ExperimentConfig]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    """Decided before running: skipped configs and configs that do not load."""


def _matches(path: Path, config: ExperimentConfig, keys: list[str]) -> bool:
    haystack = f"{path.stem} {config.name} {config.model or ''}".lower()
    return not keys or any(key.lower() in haystack for key in keys)


def plan_benchmark(
    configs_dir: Path,
    *,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    smoke_test: bool = False,
    force: bool = False,
) -> BenchmarkPlan:
    """Which configs run, and why each other one does not. `models` are keys matched against the file stem,
    the run name and the model id; a key that matches no config is reported as skipped."""
    if not Path(configs_dir).is_dir():
        raise ConfigError(f"--configs {configs_dir}: no such folder of run configs")
    plan = BenchmarkPlan()
    matched: set[str] = set()
    for path in sorted(p for p in Path(configs_dir).iterdir() if p.suffix in CONFIG_SUFFIXES):
        try:
            config, _ = load_experiment_config(path)
        except ConfigError as exc:
            # Only the file's name can be matched; a broken config nobody asked for does not fail the benchmark.
            keys = [k for k in models or [] if k.lower() in path.stem.lower()]
            if keys or not models:
                matched |= set(keys)
                plan.outcomes.append(Outcome(str(path), None, "failed", f"config does not load: {exc}"))
            continue
        if providers and config.provider not in providers:
            continue
        if not _matches(path, config, models or []):
            continue
        matched |= {k for k in models or [] if _matches(path, config, [k])}
        if smoke_test:
            config = config.model_copy(update={"name": f"{config.name}-smoke", "limit": 1})
        summary = RunDir(Path(config.output_dir) / config.name).read_summary()
        if summary and summary.get("complete") and not force:
            plan.outcomes.append(Outcome(str(path), config.name, "skipped", "run is complete (--force to redo)"))
            continue
        plan.to_run.append((path, config))
    for key in models or []:
        if key not in matched:
            plan.outcomes.append(Outcome(key, None, "skipped", f"no config in {configs_dir} matches '{key}'"))
    return plan


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


def start_run(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `command` as the leader of a new session (so its whole group can be killed), output to the log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        note = " ".join(f"{k}={v}" for k, v in (env or {}).items())
        log.write(f"$ {note + ' ' if note else ''}{' '.join(command)}\n".encode())
        log.flush()
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})}
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
    outcome = Outcome(str(path), config.name, "passed", pid=process.pid, log=str(log_path))
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
            outcome.status, outcome.reason = "failed", f"exit {code}: {_last_line(log_path)}"
    outcome.duration_s = time.monotonic() - started
    # Whatever the run left (a killed leader's children included) must not outlive it.
    kill_group(process)
    return outcome


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "no output"


def run_benchmark(
    plan: BenchmarkPlan,
    *,
    timeout_s: float,
    log_dir: Path,
    data_dir: Path | None = None,
    force: bool = False,
    notify: Callable[[Outcome], None] = lambda outcome: None,
    pool: SlotPool | None = None,
    per_gpu_gb: float | None = None,
    sizes: dict[str, ModelSize] | None = None,
) -> list[Outcome]:
    """Run the plan: one config after another (no pool: the inline executor), or packed onto the pool's slots
    (the local executor). `<log_dir>/summary.json` is rewritten after every config, so a killed benchmark keeps
    what it learnt. Inline stops after an interrupted config."""
    outcomes = list(plan.outcomes)
    for outcome in outcomes:
        notify(outcome)
    if pool is not None:
        return _run_on_slots(plan, outcomes, pool, timeout_s, log_dir, data_dir, force, notify, per_gpu_gb, sizes)
    for path, config in plan.to_run:
        outcome = run_config(path, config, timeout_s=timeout_s, log_dir=log_dir, data_dir=data_dir, force=force)
        outcomes.append(outcome)
        notify(outcome)
        _write_summary(log_dir, outcomes)
        if outcome.status == "interrupted":
            break
    _write_summary(log_dir, outcomes)
    return outcomes


def _run_on_slots(
    plan: BenchmarkPlan,
    outcomes: list[Outcome],
    pool: SlotPool,
    timeout_s: float,
    log_dir: Path,
    data_dir: Path | None,
    force: bool,
    notify: Callable[[Outcome], None],
    per_gpu_gb: float | None,
    sizes: dict[str, ModelSize] | None,
) -> list[Outcome]:
    tasks, by_key = [], {}
    for path, config in plan.to_run:
        log_path = log_dir / f"{config.name}.log"
        command = run_command(path, config, data_dir, force)
        need = slots_needed(config, per_gpu_gb, params_b_of(config.model, None, sizes or {}), pool.cpu)
        tasks.append(Task(config.name, need, lambda env, c=command, p=log_path: start_run(c, p, env), timeout_s))
        by_key[config.name] = (path, log_path)

    def finished(result: TaskResult) -> None:
        path, log_path = by_key[result.key]
        status = "failed" if result.status == "unschedulable" else result.status
        reason = result.reason
        if status == "failed" and not reason:
            reason = f"exit {result.returncode}: {_last_line(log_path)}"
        took = (result.ended_s or 0.0) - (result.started_s or 0.0) if result.started_s is not None else 0.0
        devices = f"{'CPU slot' if pool.cpu else 'GPU'} {','.join(map(str, result.slots))}" if result.slots else ""
        outcome = Outcome(str(path), result.key, status, reason, took, result.pid, str(log_path), devices)
        outcomes.append(outcome)
        notify(outcome)
        _write_summary(log_dir, outcomes)

    run_local(tasks, pool, kill=kill_group, notify=finished)
    _write_summary(log_dir, outcomes)
    return outcomes


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    out = {status: 0 for status in ("passed", "failed", "skipped", "timed_out", "interrupted")}
    for outcome in outcomes:
        out[outcome.status] += 1
    return out


def _write_summary(log_dir: Path, outcomes: list[Outcome]) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    payload = {"counts": counts(outcomes), "configs": [asdict(o) for o in outcomes]}
    write_atomically(log_dir / "summary.json", json.dumps(payload, indent=2) + "\n")
