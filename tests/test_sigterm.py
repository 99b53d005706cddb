"""SIGTERM (what schedulers and `timeout` send) is handled as Ctrl-C: the row or run in flight is recorded as
interrupted, children are stopped, exit 143. Real processes, real signals, a slow server on 127.0.0.1."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes.batch_inputs import models_csv, prompts_jsonl
from fakes.servers import ScriptedServer
from fakes.workspace import make_workspace

SLOW = (200, json.dumps({"choices": [{"message": {"content": '{"answer_value": 1}'}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 3, "completion_tokens": 4}}), {}, 0.6)  # fmt: skip
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "HF_HUB_OFFLINE": "1"}


def _wait_for(check, limit_s: float = 90.0) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start_batch(tmp_path: Path, server: ScriptedServer, out: Path) -> subprocess.Popen:
    """A 40-prompt batch row against the slow server, once its first prompt is recorded."""
    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", [f"q {i}" for i in range(40)])
    process = subprocess.Popen(
        [sys.executable, "-m", "wattbench", "batch", "--models-csv", str(models), "--prompts-file", str(prompts),
         "--backend", "openai", "--endpoint", server.url, "--output-dir", str(out), "--idle-seconds", "0",
         "--max-new-tokens", "4", "--warmup", "0"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    _wait_for(lambda: any(p.stat().st_size for p in out.glob("individual_runs/*/prompts.jsonl")))
    return process


@pytest.mark.parametrize(("sent", "code", "named"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_a_signal_during_a_batch_records_the_row_as_interrupted(tmp_path: Path, sent: int, code: int, named: str):
    """The row runs in a process of its own (the inline executor, as every command's): SIGTERM (a scheduler's)
    stops it at once, a first Ctrl-C lets the prompt in flight finish; either way the row says which stopped it
    and keeps every prompt it recorded, and the batch exits 143 or 130."""
    out, server = tmp_path / "out", ScriptedServer([], default=SLOW)
    try:
        process = _start_batch(tmp_path, server, out)
        process.send_signal(sent)
        _, err = process.communicate(timeout=60)
    finally:
        server.close()
    assert process.returncode == code, err
    with open(out / "master_results.csv", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert row["status"] == "interrupted" and named in row["error_message"], row
    run = next((out / "individual_runs").iterdir())
    records = (run / "prompts.jsonl").read_text().splitlines()
    assert 0 < int(row["successful_prompts"]) == len(records) < 40
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"


def test_sigterm_to_a_campaign_stops_its_children_and_each_run_is_resumable(wattbot: Path, tmp_path: Path):
    root = make_workspace(wattbot, tmp_path)
    configs = root / "configs"
    configs.mkdir()
    server = ScriptedServer([], default=SLOW)
    base = (root / "run.toml").read_text()
    for name in ("one", "two"):
        (configs / f"{name}.toml").write_text(
            f'name = "{name}"\nprovider = "openai"\nmodel = "m"\n' + base + f'[generation]\nbase_url = "{server.url}"'
            "\nstream = false\n")  # fmt: skip
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "wattbench", "benchmark", "--configs", str(configs), "--log-dir",
             str(root / "logs"), "--executor", "local", "--slots", "2", "--data-dir", str(root / "data")],
            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        results = [root / "runs" / name / "results.jsonl" for name in ("one", "two")]
        _wait_for(lambda: all(r.exists() and r.read_text().strip() for r in results))
        children = [int(line.split()[0]) for line in subprocess.run(
            ["pgrep", "-f", "-a", "wattbench.* run "], capture_output=True, text=True).stdout.splitlines()
            if str(root) in line]  # fmt: skip
        assert children
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=90)
    finally:
        server.close()
    assert process.returncode == 143, err
    _wait_for(lambda: not any(_alive(pid) for pid in children), 30)
    for name in ("one", "two"):
        summary = json.loads((root / "runs" / name / "summary.json").read_text())
        assert summary["status"] == "incomplete", (name, summary["status"])
