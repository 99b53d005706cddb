"""The Ray executor: each run a Ray task holding the GPUs it needs; its files come back to the driver.

The driver (the machine where `wattbench ... --executor ray` runs) sends each task the files it needs that may
not exist on its node: the config as it will run, the questions or models CSV, any partial run dir (so a run
resumes where it stopped). The task runs the command (`wattbench run`, or one batch run) in a scratch folder on
whichever node Ray picked, with CUDA_VISIBLE_DEVICES set to the GPUs Ray gave it, and returns the files the run
wrote and its log. The driver writes them into its own store, so the nodes need wattbench and the data
(`wattbench data fetch`, or $WATTBENCH_DATA) but no shared filesystem.

A task whose worker or node dies is retried by Ray (max_retries) from the driver's state; a run that fails (bad
config, a model that does not load, a timeout) returns normally with status failed or timed_out, so it is not
retried and its error and log reach the driver.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.config import ExperimentConfig
from wattbench.data.model_sizes import ModelSize, params_b_of
from wattbench.errors import WattbenchError
from wattbench.executors.local import slots_needed
from wattbench.executors.process import Outcome, kill_group, last_line, run_command, start_run
from wattbench.store.paths import inside
from wattbench.store.rundir import write_bytes_atomically

MAX_RETRIES = 3
"""Attempts after a worker or node is lost. Runs that fail by themselves are never retried."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise WattbenchError("--executor ray needs Ray: pip install 'wattbench[ray]'") from None
    return ray


def connect(address: str | None, say: Callable[[str], None]) -> bool:
    """Join the cluster at `address` (or $RAY_ADDRESS), or start a local Ray for this call sized to the
    machine's GPUs. Returns whether this call started Ray (and must shut it down). An already initialised Ray
    (a test, a notebook) is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        from wattbench.energy.hardware import visible_gpus

        options["num_gpus"] = len(visible_gpus())
    else:
        check_reachable(address)
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray"
        raise WattbenchError(f"--ray-address {where}: cannot connect ({str(exc).splitlines()[0]})") from None
    say(f"ray: joined {address}" if address else "ray: started a local Ray for this call")
    return address is None


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Ray retries an address nobody listens on for minutes; a plain TCP connect says so in seconds."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise WattbenchError(f"--ray-address {address}: give HOST:PORT of the Ray head (ray start --head prints it)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise WattbenchError(
            f"--ray-address {address}: nothing answers there ({exc.strerror or exc}); start the head with "
            "'ray start --head' or check the address"
        ) from None


def largest_node_gpus(ray: Any) -> float:
    """GPUs of the best-equipped live node: a run needing more than that would wait forever."""
    return max((n.get("Resources", {}).get("GPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=0.0)


SCRATCH = "@WATTBENCH_SCRATCH@"
"""Stands for the task's scratch folder in a job's command and in its text files (configs)."""
PYTHON = "@WATTBENCH_PYTHON@"
"""Stands for the node's Python (the driver's interpreter path may not exist there)."""
TEXT_SUFFIXES = (".json", ".yaml", ".yml", ".toml")


@dataclass
class RayJob:
    key: str
    label: str
    """What Outcome.config shows (the config file on the driver)."""
    gpus: int
    command: list[str]
    files: dict[str, bytes]
    """Placed in the scratch folder before the command starts (relative paths)."""
    land: Callable[[dict[str, bytes]], None]
    """On the driver: writes the files the task wrote under `out/` (relative to it) into the store."""
    log_path: Path
    timeout_s: float
    data_dir: Path | None = None


def read_tree(folder: Path, prefix: str = "") -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        prefix + str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def write_tree(files: dict[str, bytes], folder: Path) -> None:
    for relative, data in files.items():
        # A task's file names come from another machine: none may land outside the folder it belongs in.
        target = inside(folder, folder / relative, "a file sent back by a Ray task")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(target, data)


def _workdir(driver_cwd: str) -> Path:
    """Where relative paths (a retrieval index) resolve on the node: the driver's folder when the node shares
    it, else $WATTBENCH_RAY_WORKDIR or ~/.cache/wattbench/ray, kept between tasks so an index is built once."""
    if Path(driver_cwd).is_dir():
        return Path(driver_cwd)
    folder = Path(os.environ.get("WATTBENCH_RAY_WORKDIR") or Path.home() / ".cache" / "wattbench" / "ray")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_task(payload: dict[str, Any], gpu_ids: list[str], threads: int) -> dict[str, Any]:
    """On the worker: the job's command in a scratch folder; returns its status, the files under `out/`, its log."""
    import shutil

    scratch = Path(tempfile.mkdtemp(prefix="wattbench-ray-"))
    try:
        for relative, data in payload["files"].items():
            target = scratch / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.suffix in TEXT_SUFFIXES:
                data = data.replace(SCRATCH.encode(), str(scratch).encode())
            target.write_bytes(data)
        (scratch / "out").mkdir(exist_ok=True)
        command = [part.replace(SCRATCH, str(scratch)).replace(PYTHON, sys.executable) for part in payload["command"]]
        env = {"CUDA_VISIBLE_DEVICES": ",".join(gpu_ids), "WATTBENCH_THREADS": str(threads),
               "OMP_NUM_THREADS": str(threads)}  # fmt: skip
        data_dir = payload["data_dir"]
        if data_dir and Path(data_dir).is_dir():  # else the node's own $WATTBENCH_DATA or ./data
            env["WATTBENCH_DATA"] = data_dir
        log_path = scratch / "run.log"
        started, started_at = time.monotonic(), time.time()
        process = start_run(command, log_path, env, cwd=_workdir(payload["driver_cwd"]), tied_to_parent=True)
        status, reason = "passed", ""
        try:
            code = process.wait(timeout=payload["timeout_s"])
        except subprocess.TimeoutExpired:
            code = None
        kill_group(process)
        if code is None:
            status, reason = "timed_out", f"killed after {payload['timeout_s'] / 60:g} min"
        elif code != 0:
            status, reason = "failed", f"exit {code}: {last_line(log_path)}"
        return {
            "status": status,
            "reason": reason,
            "duration_s": time.monotonic() - started,
            "node": socket.gethostname(),
            "gpus": gpu_ids,
            "pid": process.pid,
            "started_at": started_at,
            "log": log_path.read_bytes(),
            "files": read_tree(scratch / "out"),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _remote_run(payload: dict[str, Any], threads: int) -> dict[str, Any]:
    """The Ray task body: the GPUs are the ones Ray assigned to this task."""
    import ray

    return run_task(payload, [str(g) for g in ray.get_gpu_ids()], threads)


def submit(
    jobs: list[RayJob],
    address: str | None,
    *,
    notify: Callable[[Outcome], None],
    say: Callable[[str], None],
    max_retries: int = MAX_RETRIES,
) -> list[Outcome]:
    """Run every job as a Ray task; land each result as it arrives; outcomes in that order."""
    ray = import_ray()
    started_here = connect(address, say)
    try:
        node_gpus = largest_node_gpus(ray)
        resources = ray.cluster_resources()
        say(f"ray: {int(resources.get('CPU', 0))} CPUs, {int(resources.get('GPU', 0))} GPUs in the cluster")
        remote = ray.remote(_remote_run)
        outcomes: list[Outcome] = []
        pending: dict[Any, tuple[RayJob, float]] = {}
        for job in jobs:
            need = 0 if node_gpus == 0 else job.gpus  # no GPU anywhere: runs go to CPUs, as the local executor
            if need > node_gpus:
                outcome = Outcome(job.label, job.key, "failed", f"needs {need} GPUs; the largest Ray node has "
                                  f"{node_gpus:g}")  # fmt: skip
                outcomes.append(outcome)
                notify(outcome)
                continue
            payload = {"files": job.files, "command": job.command, "timeout_s": job.timeout_s,
                       "data_dir": str(job.data_dir) if job.data_dir else None, "driver_cwd": os.getcwd()}  # fmt: skip
            ref = remote.options(
                num_gpus=need, num_cpus=1, max_retries=max_retries, retry_exceptions=False, name=job.key
            ).remote(payload, 1)
            pending[ref] = (job, time.monotonic())
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    job, submitted = pending.pop(ref)
                    outcome = _collect(ray, ref, job, submitted)
                    outcomes.append(outcome)
                    notify(outcome)
        except KeyboardInterrupt:
            for ref, (job, _) in pending.items():
                ray.cancel(ref, force=True)
                outcome = Outcome(job.label, job.key, "interrupted", "Ctrl-C", log=str(job.log_path))
                outcomes.append(outcome)
                notify(outcome)
        return outcomes
    finally:
        if started_here:
            ray.shutdown()


def _collect(ray: Any, ref: Any, job: RayJob, submitted: float) -> Outcome:
    try:
        result = ray.get(ref)
    except Exception as exc:  # ray.exceptions.RayError: the worker or node was lost on every attempt
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Outcome(job.label, job.key, "failed", f"{type(exc).__name__}: {first}"[:300],
                       time.monotonic() - submitted, log=str(job.log_path))  # fmt: skip
    job.land(result["files"])
    job.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(job.log_path, "ab") as handle:
        handle.write(result["log"])
    gpus = f" GPU {','.join(result['gpus'])}" if result["gpus"] else " CPU"
    return Outcome(job.label, job.key, result["status"], result["reason"], result["duration_s"], result["pid"],
                   str(job.log_path), f"{result['node']}{gpus}", result["started_at"])  # fmt: skip


def experiment_job(
    config: ExperimentConfig, label: str, *, timeout_s: float, log_path: Path, data_dir: Path | None, force: bool,
    gpus: int,
) -> RayJob:  # fmt: skip
    """A `wattbench run` as a Ray job: the config points at the scratch folder; the run dir comes back into
    the config's output_dir."""
    settings = config.model_dump(mode="json")
    settings["output_dir"] = f"{SCRATCH}/out"
    files: dict[str, bytes] = {}
    questions = Path(config.questions) if config.questions else None
    if questions and questions.is_file():
        files["questions.csv"] = questions.read_bytes()
        settings["questions"] = f"{SCRATCH}/questions.csv"
    run_dir = Path(config.output_dir) / config.name
    if not force:
        files |= read_tree(run_dir, prefix=f"out/{config.name}/")
    files["config.yaml"] = json.dumps(settings, indent=2).encode()  # JSON is YAML
    command = [PYTHON, *run_command(Path(SCRATCH) / "config.yaml", config, None, force)[1:]]
    return RayJob(config.name, label, gpus, command, files,
                  lambda out: write_tree({k.split("/", 1)[1]: v for k, v in out.items() if "/" in k}, run_dir),
                  log_path, timeout_s, data_dir)  # fmt: skip


def run_on_ray(
    jobs: list[Any],
    address: str | None,
    *,
    log_dir: Path,
    data_dir: Path | None,
    force: bool,
    notify: Callable[[Outcome], None],
    say: Callable[[str], None],
    sizes: dict[str, ModelSize] | None,
) -> list[Outcome]:
    """WattBot runs (dispatch.RunJob) on Ray."""
    ray_jobs = [
        experiment_job(
            job.config, str(job.path), timeout_s=job.timeout_s, log_path=log_dir / f"{job.config.name}.log",
            data_dir=data_dir, force=force,
            gpus=slots_needed(job.config, None, params_b_of(job.config.model, None, sizes or {}), cpu=False),
        )
        for job in jobs
    ]  # fmt: skip
    return submit(ray_jobs, address, notify=notify, say=say)
