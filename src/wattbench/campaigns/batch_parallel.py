"""`wattbench batch` on its executor: each (model, reasoning state) in its own process (runs/child.py), one after
another (inline), packed onto GPU or CPU slots (local) or sent to a Ray cluster, all into one results folder.

Side by side, each run measures only its own GPUs (CUDA_VISIBLE_DEVICES) and its own idle baseline. Local
children write their run dir and their master row themselves (the master table is locked while a row is
replaced); Ray results come back to the driver, which writes them. A run that dies without a summary (killed at
its timeout, a crash) still gets a failed master row, so the table always says what happened to every run.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattbench.campaigns.batch_rows import BatchOutcome, to_run
from wattbench.campaigns.jobs import gpu_request
from wattbench.config import BatchConfig
from wattbench.data.model_sizes import ModelSize
from wattbench.data.models_csv import ModelSpec
from wattbench.executors.job import Job, Outcome, Shipment
from wattbench.executors.ray import PYTHON, SCRATCH, write_tree
from wattbench.executors.registry import ExecutorChoice, run_jobs
from wattbench.runs.textgen_backend import engine_name
from wattbench.runs.textgen_prompts import dataset_record, limit_prompts
from wattbench.runs.textgen_row import master_row, row_warnings
from wattbench.store.batch_dir import BatchDir
from wattbench.store.rundir import write_atomically
from wattbench.store.schema import BatchRunSummary, MasterRow
from wattbench.urls import stash_secrets

CHILD = ["-m", "wattbench.runs.child"]


def _payload(config: BatchConfig, models_csv: Path, spec: ModelSpec, prompts: list[str], fresh: bool) -> dict[str, Any]:
    # The dataset's record (path, sha256, rows) is taken here, where the file is: a Ray node gets the prompts in
    # the job and may not have the file at all. The row goes as planned here (runs/child.py plans nothing).
    try:
        dataset = dataset_record(config, len(prompts))
    except Exception as exc:  # recorded, never a reason to fail the row
        dataset = {"error": str(exc)}
    return {"config": config.model_dump(mode="json"), "models_csv": str(models_csv), "spec": spec.to_plan(),
            "prompts": prompts, "dataset": dataset, "fresh": fresh}  # fmt: skip


def _on_its_own_gpus(config: BatchConfig) -> BatchConfig:
    """The config a child runs: the GPUs it is given (its slot's), not the batch's `generation.gpus`."""
    return config.model_copy(update={"generation": config.generation.model_copy(update={"gpus": None})})


def row_job(
    config: BatchConfig, spec: ModelSpec, prompts: list[str], models_csv: Path, timeout_s: float,
    sizes: dict[str, ModelSize], fresh: bool = False,
) -> Job:  # fmt: skip
    """One (model, reasoning state) of the batch as a Job: here, the child reads its job file and writes into
    the batch folder itself; on a Ray node, into a scratch folder whose run dir and master row come back."""
    batch = BatchDir(Path(config.output_dir))
    jobs_dir = batch.root / "jobs"
    job_path = jobs_dir / f"{spec.run_key}.json"
    job_path.parent.mkdir(parents=True, exist_ok=True)
    # The child measures the GPUs it is given, whatever the batch's --gpus said.
    payload = _payload(_on_its_own_gpus(config), models_csv.resolve(), spec, prompts, fresh)
    payload["config"] = stash_secrets(payload["config"])  # the child gets the real URLs through its environment
    write_atomically(job_path, json.dumps(payload) + "\n")
    # The engine says whether it holds a GPU here (a server reached over HTTP does not).
    gen = config.generation
    gpus, memory_gb = gpu_request(engine_name(config), None, gen.tensor_parallel, spec.model_id, gen.dtype, sizes)
    log_path = jobs_dir / f"{spec.run_key}.out"
    return Job(spec.run_key, str(models_csv), [sys.executable, *CHILD, str(job_path)], log_path, timeout_s, gpus,
               memory_gb, lambda: _row_shipment(config, spec, prompts, models_csv, batch, fresh))  # fmt: skip


def _row_shipment(
    config: BatchConfig, spec: ModelSpec, prompts: list[str], models_csv: Path, batch: BatchDir, fresh: bool
) -> Shipment:
    remote = _on_its_own_gpus(config).model_copy(update={"output_dir": f"{SCRATCH}/out"})

    def land(files: dict[str, bytes]) -> None:
        # The run dir and log; the node's master table holds only this run: the row goes into ours instead.
        write_tree({k: v for k, v in files.items() if k.startswith(("individual_runs/", "logs/"))}, batch.root)
        for key in files:
            if key.startswith("individual_runs/") and key.endswith("/summary.json"):
                batch.upsert_master(BatchRunSummary.of(json.loads(files[key]), f"Ray result {key}").results)

    job = json.dumps(_payload(remote, models_csv, spec, prompts, fresh)).encode()  # the node needs no models CSV
    return Shipment([PYTHON, *CHILD, f"{SCRATCH}/job.json"], {"job.json": job, **_earlier_run(batch, spec, fresh)},
                    land)  # fmt: skip


def _earlier_run(batch: BatchDir, spec: ModelSpec, fresh: bool) -> dict[str, bytes]:
    """An unfinished earlier run of the row, sent along so the node goes on from the passes it finished
    (runs/textgen_resume.py decides there what it keeps)."""
    summary = batch.run_summary(spec.run_key)
    if fresh or summary is None or summary.status == "completed":
        return {}
    folder = batch.run_dir(spec.run_key)
    names = ("summary.json", "prompts.jsonl", "power.csv")
    there = f"out/individual_runs/{spec.run_key}"
    return {f"{there}/{name}": (folder / name).read_bytes() for name in names if (folder / name).is_file()}


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
    prompts = limit_prompts(config, prompts)
    todo = to_run(specs, batch, force, outcome, notify)
    jobs = [row_job(config, spec, prompts, models_csv, timeout_s, sizes or {}, force) for spec in todo]
    results: dict[str, Outcome] = {}

    def finished(result: Outcome) -> None:
        results[result.name or ""] = result
        notify(result.line())

    run_jobs(jobs, choice, finished, notify)
    for spec in todo:
        row = _row_of(batch, spec, config, results.get(spec.run_key), len(prompts))
        for warning in row_warnings(row):  # said in the child's log too; the user reads them here
            notify(f"warning: {spec.model_id} ({spec.state_label or 'default'}): {warning}")
        outcome.rows.append(row)
        outcome.interrupted |= row.status == "interrupted"
    return outcome


def _row_of(batch: BatchDir, spec: ModelSpec, config: BatchConfig, result: Outcome | None, planned: int) -> MasterRow:
    """The run's own master row, or a failed one when it left no summary."""
    summary = batch.run_dir(spec.run_key) / "summary.json"
    written = batch.run_summary(spec.run_key)
    if result is None:
        status, why = "failed", "never ran"
    elif (
        result.status in ("passed", "failed", "interrupted")
        and written is not None
        and summary.stat().st_mtime >= (result.started_at or 0.0)
    ):  # written by this run, not left from an earlier one; an interrupted child says what stopped it
        return written.results
    else:
        status = "interrupted" if result.status == "interrupted" else "failed"
        why = f"{result.status}: {result.reason}"
    row = master_row(spec, config, [], planned * config.repeats, None, {}, status, why, uuid.uuid4().hex[:12],
                     time.strftime("%Y-%m-%dT%H:%M:%S"))  # fmt: skip
    batch.upsert_master(row)
    return row
