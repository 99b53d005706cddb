"""The Ray executor on a real local Ray instance with two declared GPUs: four CPU-only SmolLM2 runs go two at a
time, one per "GPU", and their run dirs come back into the driver's store; a run that fails stays failed with its
error; a run whose worker is killed mid-run is retried and completes."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    # Four CPUs and two declared GPUs: only the GPUs can hold the runs to two at a time.
    ray.init(num_cpus=4, num_gpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False)
    yield
    ray.shutdown()


def _configs(root: Path, names: tuple[str, ...]) -> Path:
    configs = root / "configs"
    configs.mkdir(exist_ok=True)
    base = (root / "run.toml").read_text()
    for name in names:
        (configs / f"{name}.toml").write_text(f'name = "{name}"\n' + base)
    return configs


def test_four_runs_two_at_a_time_on_two_declared_gpus(local_ray, wattbot, tmp_path, capsys):
    from fakes.workspace import make_workspace
    from wattbench.cli import main

    root = make_workspace(wattbot, tmp_path)
    configs = _configs(root, ("r1", "r2", "r3", "r4"))
    (configs / "broken.toml").write_text(
        'name = "broken"\nmodel = "/nowhere/model.gguf"\n' + (root / "run.toml").read_text()
    )
    logs = root / "logs"
    args = ["benchmark", "--configs", str(configs), "--smoke-test", "--executor", "ray", "--log-dir", str(logs)]
    assert main([*args, "--data-dir", str(root / "data")]) == 1  # the broken config fails; the rest pass
    assert "ray: 4 CPUs, 2 GPUs in the cluster" in capsys.readouterr().err
    outcomes = {o["name"]: o for o in json.loads((logs / "summary.json").read_text())["configs"]}
    broken = outcomes.pop("broken-smoke")
    assert broken["status"] == "failed" and "/nowhere/model.gguf" in broken["reason"]
    assert (logs / "broken-smoke.log").read_text().count("$ ") == 1  # its own failure: not retried
    assert {o["status"] for o in outcomes.values()} == {"passed"}
    spans = []
    for name, outcome in outcomes.items():
        assert outcome["devices"].endswith((" GPU 0", " GPU 1")), outcome["devices"]
        spans.append((outcome["started_at"], outcome["started_at"] + outcome["duration_s"], outcome["devices"]))
        run = json.loads((root / "runs" / name / "summary.json").read_text())  # written by the driver
        assert run["complete"] and run["num_questions"] == 1
        assert (root / "runs" / name / "submission.csv").exists()
        assert "CUDA_VISIBLE_DEVICES=" in (logs / f"{name}.log").read_text()
    for start, _, _ in spans:  # never more than two at once, and the two share no GPU
        running = [s for s in spans if s[0] <= start < s[1]]
        assert len(running) <= 2 and len({s[2] for s in running}) == len(running)
    assert max(sum(s[0] <= start < s[1] for s in spans) for start, _, _ in spans) == 2  # they did run side by side


def _kill_worker_of_first_run(seen: dict[str, int], stop: threading.Event) -> None:
    """Wait for a `wattbench run` started from a Ray scratch folder and SIGKILL the Ray worker that runs it."""
    while not stop.is_set():
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                status = (entry / "status").read_text()
            except OSError:
                continue
            if "wattbench run --config" in command and "wattbench-ray-" in command:
                parent = int(next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1])
                seen["run"], seen["worker"] = int(entry.name), parent
                os.kill(parent, signal.SIGKILL)
                return
        time.sleep(0.2)


def test_a_run_whose_worker_dies_is_retried_and_completes(local_ray, wattbot, tmp_path):
    from fakes.workspace import make_workspace
    from wattbench.campaigns.jobs import Campaign, run_configs
    from wattbench.config import load_experiment_config
    from wattbench.executors.registry import ExecutorChoice

    root = make_workspace(wattbot, tmp_path)
    config, _ = load_experiment_config(root / "run.toml", {"name": "survivor", "limit": 1})
    seen: dict[str, int] = {}
    stop = threading.Event()
    killer = threading.Thread(target=_kill_worker_of_first_run, args=(seen, stop), daemon=True)
    killer.start()
    try:
        campaign = Campaign(ExecutorChoice("ray"), root / "logs", root / "data", timeout_s=600)
        outcomes = run_configs([(root / "run.toml", config)], campaign)
    finally:
        stop.set()
    assert seen, "the run was never seen running"
    [outcome] = outcomes
    assert outcome.status == "passed", outcome.reason
    assert outcome.pid != seen["run"]  # a second attempt did the run
    with pytest.raises(ProcessLookupError):
        os.kill(seen["run"], 0)  # the first attempt's run died with its worker
    assert json.loads((root / "runs" / "survivor" / "summary.json").read_text())["complete"]


def test_batch_on_ray_lands_runs_and_master_rows_on_the_driver(local_ray, tmp_path, capsys):
    import csv

    from test_executors import BATCH_ARGS, _smol_models_csv
    from wattbench.cli import main

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "Say hello."}\n{"prompt": "Name a colour."}\n')
    out = tmp_path / "batch_results"
    args = ["batch", "--models-csv", str(_smol_models_csv(tmp_path / "m.csv")), "--prompts-file", str(prompts),
            *BATCH_ARGS, "--output-dir", str(out), "--executor", "ray"]  # fmt: skip
    assert main(args) == 1
    assert "3 runs (1 failed), 0 already completed, 0 unsupported" in capsys.readouterr().out
    with open(out / "master_results.csv", encoding="utf-8") as handle:
        rows = {(r["model_name"], r["reasoning_state"]): r["status"] for r in csv.DictReader(handle)}
    smol = "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert rows == {(smol, "Off"): "completed", (smol, "Off (N/A)"): "completed", ("acme/missing", "Off"): "failed"}
    runs = sorted(p.name for p in (out / "individual_runs").iterdir())
    assert runs == ["HuggingFaceTB_SmolLM2-135M-Instruct_Off", "HuggingFaceTB_SmolLM2-135M-Instruct_Off_N_A",
                    "acme_missing_Off"]  # fmt: skip
    for run in runs:
        assert (out / "individual_runs" / run / "summary.json").exists()
    assert len(list((out / "logs").glob("*.log"))) == 3  # the per-run logs came back from the workers


def test_an_address_nobody_answers_on_fails_in_seconds_with_exit_2(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "configs").mkdir()
    command = [sys.executable, "-m", "wattbench", "benchmark", "--configs", str(tmp_path / "configs"), "--executor",
               "ray", "--ray-address", f"127.0.0.1:{port}", "--log-dir", str(tmp_path / "logs")]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and time.monotonic() - started < 30  # Ray alone retries for minutes
    assert f"--ray-address 127.0.0.1:{port}: nothing answers there" in done.stderr
