"""Carry out a list of WattBot runs on the executor the user chose: `benchmark`, `scaling` and same-model
ensembles all hand their runs here, so every command schedules, times out and records runs the same way.

- inline: one `wattbench run` subprocess after another.
- local: packed onto the machine's GPUs (or CPU slots), see executors.py.
- ray: a Ray task per run, results shipped back and written here (ray_executor.py).

Each finished run becomes an Outcome (passed, failed, timed_out, interrupted), with its log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wattbench.config import ExperimentConfig
from wattbench.data.model_sizes import ModelSize, params_b_of
from wattbench.executors.local import (
    SlotPool,
    Task,
    TaskResult,
    check_executor,
    make_pool,
    run_local,
    slots_needed,
)
from wattbench.executors.process import Outcome, kill_group, last_line, run_command, run_config, start_run
from wattbench.store.rundir import write_atomically


@dataclass
class ExecutorChoice:
    """What `--executor`, `--gpus`, `--slots` and `--ray-address` asked for."""

    name: str = "inline"
    gpus: list[int] | None = None
    cpu_slots: int | None = None
    ray_address: str | None = None


@dataclass
class RunJob:
    config: ExperimentConfig
    """The config as it will run (its name is the run dir's)."""
    path: Path
    """A file `wattbench run --config` loads; `--name` and `--limit` come from `config`."""
    timeout_s: float


def write_config(config: ExperimentConfig, folder: Path) -> Path:
    """A derived config (a seed, a size) as a file a subprocess loads like any other: JSON is YAML."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{config.name}.yaml"
    write_atomically(path, json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
    return path


def execute_runs(
    jobs: list[RunJob],
    choice: ExecutorChoice,
    *,
    log_dir: Path,
    data_dir: Path | None = None,
    force: bool = False,
    notify: Callable[[Outcome], None] = lambda outcome: None,
    say: Callable[[str], None] = lambda line: None,
    sizes: dict[str, ModelSize] | None = None,
) -> list[Outcome]:
    """Run every job; outcomes in the order the runs finished. Inline stops after an interrupted run."""
    check_executor(choice.name)
    if choice.name == "ray":
        from wattbench.executors.ray import run_on_ray

        return run_on_ray(jobs, choice.ray_address, log_dir=log_dir, data_dir=data_dir, force=force, notify=notify,
                          say=say, sizes=sizes)  # fmt: skip
    if choice.name == "local":
        return _run_local(jobs, choice, log_dir, data_dir, force, notify, say, sizes)
    say("inline: one run after another")
    outcomes = []
    for job in jobs:
        outcome = run_config(job.path, job.config, timeout_s=job.timeout_s, log_dir=log_dir, data_dir=data_dir,
                             force=force)  # fmt: skip
        outcomes.append(outcome)
        notify(outcome)
        if outcome.status == "interrupted":
            break
    return outcomes


def local_pool(choice: ExecutorChoice, say: Callable[[str], None]) -> tuple[SlotPool, float | None]:
    """The local executor's slots (the visible GPUs, or CPU slots) and the smallest GPU's memory in GB."""
    from wattbench.energy.hardware import visible_gpus

    pool, per_gpu_gb, chosen = make_pool("local", choice.gpus, choice.cpu_slots, visible_gpus())
    assert pool is not None
    say(chosen)
    return pool, per_gpu_gb


def outcome_of(result: TaskResult, pool: SlotPool, label: str, log_path: Path) -> Outcome:
    """A finished task as an Outcome: its status, why it failed (the end of its log), where and how long."""
    status = "failed" if result.status == "unschedulable" else result.status
    reason = result.reason
    if status == "failed" and not reason:
        reason = f"exit {result.returncode}: {last_line(log_path)}"
    took = (result.ended_s or 0.0) - (result.started_s or 0.0) if result.started_s is not None else 0.0
    devices = f"{'CPU slot' if pool.cpu else 'GPU'} {','.join(map(str, result.slots))}" if result.slots else ""
    return Outcome(label, result.key, status, reason, took, result.pid, str(log_path), devices, result.started_at)


def _run_local(
    jobs: list[RunJob],
    choice: ExecutorChoice,
    log_dir: Path,
    data_dir: Path | None,
    force: bool,
    notify: Callable[[Outcome], None],
    say: Callable[[str], None],
    sizes: dict[str, ModelSize] | None,
) -> list[Outcome]:
    pool, per_gpu_gb = local_pool(choice, say)
    tasks, by_key = [], {}
    for job in jobs:
        log_path = log_dir / f"{job.config.name}.log"
        command = run_command(job.path, job.config, data_dir, force)
        params_b = params_b_of(job.config.model, None, sizes or {})
        need = slots_needed(job.config, per_gpu_gb, params_b, pool.cpu)
        start = lambda env, c=command, p=log_path: start_run(c, p, env)  # noqa: E731
        tasks.append(Task(job.config.name, need, start, job.timeout_s))
        by_key[job.config.name] = (job.path, log_path)
    outcomes: list[Outcome] = []

    def finished(result: TaskResult) -> None:
        path, log_path = by_key[result.key]
        outcome = outcome_of(result, pool, str(path), log_path)
        outcomes.append(outcome)
        notify(outcome)

    run_local(tasks, pool, kill=kill_group, notify=finished)
    return outcomes
