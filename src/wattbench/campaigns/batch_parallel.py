"""`wattbench batch --executor local|ray`: each (model, reasoning state) in its own process (batch_child.py),
packed onto GPU or CPU slots or sent to a Ray cluster, all writing into the one batch results folder.

Side by side, each run measures only its own GPUs (CUDA_VISIBLE_DEVICES) and its own idle baseline. Local
children write their run dir and their master row themselves (the master table is locked while a row is
replaced); Ray results come back to the driver, which writes them. A run that dies without a summary (killed at
its timeout, a crash) still gets a failed master row, so the table always says what happened to every run.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from wattbench.campaigns.jobs import ExecutorChoice, local_pool, outcome_of
from wattbench.config import BatchConfig
from wattbench.data.model_sizes import ModelSize, need_gb, params_b_of
from wattbench.data.models_csv import ModelSpec
from wattbench.executors.local import Task, TaskResult, run_local
from wattbench.executors.process import Outcome, kill_group, start_run
from wattbench.runs.textgen import BatchOutcome, master_row
from wattbench.store.batch_dir import BatchDir
from wattbench.store.rundir import write_atomically

CHILD = ["-m", "wattbench.runs.child"]


def _job(config: BatchConfig, models_csv: Path, spec: ModelSpec, prompts: list[str]) -> dict[str, Any]:
    return {"config": config.model_dump(mode="json"), "models_csv": str(models_csv), "run_key": spec.run_key,
            "prompts": prompts}  # fmt: skip


def _start(command: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    return start_run(command, log_path, env)


def _gpus_for(spec: ModelSpec, config: BatchConfig, per_gpu_gb: float | None, sizes: dict[str, ModelSize]) -> int:
    """A server reached over HTTP needs none here; a local engine its weights over one GPU's memory, else 1."""
    if config.endpoint:
        return 0
    params_b = params_b_of(spec.model_id, None, sizes)
    if params_b and per_gpu_gb:
        return max(1, math.ceil(need_gb(params_b, config.dtype) / per_gpu_gb))
    return 1


def run_batch_parallel(
    config: BatchConfig,
    specs: list[ModelSpec],
    prompts: list[str],
    models_csv: Path,
    choice: ExecutorChoice,
    *,
    timeout_s: float,
    force: bool = False,
    notify: Callable[[str], None] = lambda message: None,
    sizes: dict[str, ModelSize] | None = None,
) -> BatchOutcome:
    batch = BatchDir(Path(config.output_dir))
    outcome = BatchOutcome()
    prompts = prompts[: config.num_prompts] if config.num_prompts else prompts
    todo = []
    for spec in specs:
        if not spec.supported:
            outcome.unsupported.append(spec)
            notify(f"row {spec.row.line} {spec.model_id}: skipped, {spec.unsupported_reason}")
        elif not force and batch.completed(spec.run_key):
            outcome.skipped.append(spec)
            notify(f"{spec.model_id} ({spec.state_label}): already completed; --force to run it again")
        else:
            todo.append(spec)
    if choice.name == "ray":
        results = _on_ray(config, todo, prompts, models_csv, choice, timeout_s, notify, sizes or {})
    else:
        results = _on_slots(config, todo, prompts, models_csv, choice, timeout_s, notify, sizes or {})
    for spec in todo:
        row = _row_of(batch, spec, config, results.get(spec.run_key), len(prompts))
        outcome.rows.append(row)
        outcome.interrupted |= row["status"] == "interrupted"
    return outcome


def _row_of(batch: BatchDir, spec: ModelSpec, config: BatchConfig, result: Outcome | None, planned: int) -> dict:
    """The run's own master row, or a failed one when it left no summary."""
    summary = batch.run_dir(spec.run_key) / "summary.json"
    if result is None:
        status, why = "failed", "never ran"
    elif (
        result.status in ("passed", "failed")
        and summary.exists()
        and summary.stat().st_mtime >= (result.started_at or 0.0)
    ):  # written by this run, not left from an earlier one
        return json.loads(summary.read_text(encoding="utf-8"))["results"]
    else:
        status = "interrupted" if result.status == "interrupted" else "failed"
        why = f"{result.status}: {result.reason}"
    row = master_row(spec, config, [], planned * config.repeats, None, {}, status, why, uuid.uuid4().hex[:12],
                     time.strftime("%Y-%m-%dT%H:%M:%S"))  # fmt: skip
    batch.upsert_master(row)
    return row


def _line(outcome: Outcome) -> str:
    where = f" on {outcome.devices}" if outcome.devices else ""
    return f"{outcome.name}: {outcome.status}{where}{': ' + outcome.reason if outcome.reason else ''}"


def _on_slots(
    config: BatchConfig,
    todo: list[ModelSpec],
    prompts: list[str],
    models_csv: Path,
    choice: ExecutorChoice,
    timeout_s: float,
    notify: Callable[[str], None],
    sizes: dict[str, ModelSize],
) -> dict[str, Outcome]:
    pool, per_gpu_gb = local_pool(choice, notify)
    jobs_dir = Path(config.output_dir) / "jobs"
    tasks = []
    for spec in todo:
        job_path = jobs_dir / f"{spec.run_key}.json"
        job_path.parent.mkdir(parents=True, exist_ok=True)
        # The child measures the GPUs it is given, whatever the batch's --gpus said.
        job = _job(config.model_copy(update={"gpus": None}), models_csv.resolve(), spec, prompts)
        write_atomically(job_path, json.dumps(job) + "\n")
        log_path = jobs_dir / f"{spec.run_key}.out"
        command = [sys.executable, *CHILD, str(job_path)]
        need = 1 if pool.cpu else _gpus_for(spec, config, per_gpu_gb, sizes)
        tasks.append(Task(spec.run_key, need, partial(_start, command, log_path), timeout_s))
    results: dict[str, Outcome] = {}

    def finished(result: TaskResult) -> None:
        outcome = outcome_of(result, pool, str(models_csv), jobs_dir / f"{result.key}.out")
        results[result.key] = outcome
        notify(_line(outcome))

    run_local(tasks, pool, kill=kill_group, notify=finished)
    return results


def _on_ray(
    config: BatchConfig,
    todo: list[ModelSpec],
    prompts: list[str],
    models_csv: Path,
    choice: ExecutorChoice,
    timeout_s: float,
    notify: Callable[[str], None],
    sizes: dict[str, ModelSize],
) -> dict[str, Outcome]:
    from wattbench.executors.ray import PYTHON, SCRATCH, RayJob, submit, write_tree

    batch = BatchDir(Path(config.output_dir))
    remote_config = config.model_copy(update={"gpus": None, "output_dir": f"{SCRATCH}/out",
                                              "models_csv": f"{SCRATCH}/models.csv"})  # fmt: skip
    csv_bytes = models_csv.read_bytes()

    def land(files: dict[str, bytes]) -> None:
        # The run dir and log; the node's master table holds only this run: the row goes into ours instead.
        write_tree({k: v for k, v in files.items() if k.startswith(("individual_runs/", "logs/"))}, batch.root)
        for key in files:
            if key.startswith("individual_runs/") and key.endswith("/summary.json"):
                batch.upsert_master(json.loads(files[key])["results"])

    jobs = [
        RayJob(spec.run_key, str(models_csv), _gpus_for(spec, config, None, sizes),
               [PYTHON, *CHILD, f"{SCRATCH}/job.json"],
               {"job.json": json.dumps(_job(remote_config, Path(f"{SCRATCH}/models.csv"), spec, prompts)).encode(),
                "models.csv": csv_bytes},
               land, batch.root / "jobs" / f"{spec.run_key}.out", timeout_s)
        for spec in todo
    ]  # fmt: skip
    results: dict[str, Outcome] = {}

    def finished(outcome: Outcome) -> None:
        results[outcome.name or ""] = outcome
        notify(_line(outcome))

    submit(jobs, choice.ray_address, notify=finished, say=notify)
    return results
