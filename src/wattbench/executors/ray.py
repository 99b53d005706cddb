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

import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattbench.errors import WattbenchError
from wattbench.executors.job import Job, Notify, Outcome, Say, Shipment
from wattbench.executors.process import Watched, start_process
from wattbench.executors.registry import ExecutorChoice
from wattbench.signals import interrupted_by
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
        if gpu_ids:  # the task's GPUs, which a managed server must start inside (energy/devices.slot_gpus)
            env["WATTBENCH_SLOT_GPUS"] = ",".join(gpu_ids)
        data_dir = payload["data_dir"]
        if data_dir and Path(data_dir).is_dir():  # else the node's own $WATTBENCH_DATA or ./data
            env["WATTBENCH_DATA"] = data_dir
        log_path = scratch / "run.log"
        process = start_process(command, log_path, env, cwd=_workdir(payload["driver_cwd"]), tied_to_parent=True)
        watched = Watched(process, payload["timeout_s"], log_path)
        status, reason = watched.wait()
        return {
            "status": status,
            "reason": reason,
            "duration_s": watched.duration_s,
            "node": socket.gethostname(),
            "gpus": gpu_ids,
            "pid": process.pid,
            "started_at": watched.started_at,
            "log": log_path.read_bytes(),
            "files": read_tree(scratch / "out"),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _remote_run(payload: dict[str, Any], threads: int) -> dict[str, Any]:
    """The Ray task body: the GPUs are the ones Ray assigned to this task."""
    import ray

    return run_task(payload, [str(g) for g in ray.get_gpu_ids()], threads)


class RayExecutor:
    """Each job a Ray task holding the GPUs it needs; a job must carry a Shipment (the files it needs there)."""

    def __init__(self, choice: ExecutorChoice, say: Say, max_retries: int = MAX_RETRIES) -> None:
        self.address, self.say, self.max_retries = choice.ray_address, say, max_retries

    def run(self, jobs: list[Job], notify: Notify) -> list[Outcome]:
        """Every job as a Ray task; each result is landed as it arrives; outcomes in that order."""
        ray = import_ray()
        started_here = connect(self.address, self.say)
        try:
            return self._run(ray, jobs, notify)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray: Any, jobs: list[Job], notify: Notify) -> list[Outcome]:
        node_gpus = largest_node_gpus(ray)
        resources = ray.cluster_resources()
        self.say(f"ray: {int(resources.get('CPU', 0))} CPUs, {int(resources.get('GPU', 0))} GPUs in the cluster")
        remote = ray.remote(_remote_run)
        outcomes: list[Outcome] = []
        pending: dict[Any, tuple[Job, Shipment, float]] = {}
        for job in jobs:
            # Ray does not say each node's GPU memory here: a job asks for its count. No GPU anywhere: runs go to
            # CPUs, as the local executor's CPU slots.
            need = 0 if node_gpus == 0 else job.gpus_on(None)
            problem = "" if job.ship else "this kind of job cannot be shipped to a Ray node"
            if need > node_gpus:
                problem = f"needs {need} GPUs; the largest Ray node has {node_gpus:g}"
            if problem or job.ship is None:
                outcomes.append(Outcome(job.label, job.key, "failed", problem, log=str(job.log_path)))
                notify(outcomes[-1])
                continue
            ship = job.ship()
            payload = {"files": ship.files, "command": ship.command, "timeout_s": job.timeout_s,
                       "data_dir": str(ship.data_dir) if ship.data_dir else None,
                       "driver_cwd": os.getcwd()}  # fmt: skip
            ref = remote.options(
                num_gpus=need, num_cpus=1, max_retries=self.max_retries, retry_exceptions=False, name=job.key
            ).remote(payload, 1)
            pending[ref] = (job, ship, time.monotonic())
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    job, ship, submitted = pending.pop(ref)
                    outcomes.append(_collect(ray, ref, job, ship, submitted))
                    notify(outcomes[-1])
        except KeyboardInterrupt:
            for ref, (job, _, _) in pending.items():
                ray.cancel(ref, force=True)
                outcomes.append(Outcome(job.label, job.key, "interrupted", interrupted_by(), log=str(job.log_path)))
                notify(outcomes[-1])
        return outcomes


def _collect(ray: Any, ref: Any, job: Job, ship: Shipment, submitted: float) -> Outcome:
    try:
        result = ray.get(ref)
    except Exception as exc:  # ray.exceptions.RayError: the worker or node was lost on every attempt
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Outcome(job.label, job.key, "failed", f"{type(exc).__name__}: {first}"[:300],
                       time.monotonic() - submitted, log=str(job.log_path))  # fmt: skip
    ship.land(result["files"])
    job.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(job.log_path, "ab") as handle:
        handle.write(result["log"])
    gpus = f" GPU {','.join(result['gpus'])}" if result["gpus"] else " CPU"
    return Outcome(job.label, job.key, result["status"], result["reason"], result["duration_s"], result["pid"],
                   str(job.log_path), f"{result['node']}{gpus}", result["started_at"])  # fmt: skip
