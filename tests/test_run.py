"""The WattBot run end to end on the real engine: llama.cpp with SmolLM2, on three real corpus documents."""

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

from fakes.workspace import QUESTION_IDS, make_workspace
from test_cli import JSON_KEYS
from wattbench.cli import main
from wattbench.scoring.wattbot import score_files
from wattbench.store.schema import RunSummary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(wattbot: Path, tmp_path_factory) -> Path:
    return make_workspace(wattbot, tmp_path_factory.mktemp("run"))


def _args(workspace: Path, name: str, *extra: str) -> list[str]:
    return [
        "run",
        "--config",
        str(workspace / "run.toml"),
        "--data-dir",
        str(workspace / "data"),
        "--name",
        name,
        "--quiet",
        *extra,
    ]


def test_run_writes_a_complete_run_dir(workspace: Path, capsys):
    assert main(_args(workspace, "complete")) == 0
    out = capsys.readouterr().out
    assert "WattBot score (kaggle mode)" in out and "run complete: 4/4 answered, 0 failed" in out
    run = workspace / "runs" / "complete"
    assert {p.name for p in run.iterdir()} >= {
        "submission.csv",
        "results.jsonl",
        "summary.json",
        "results.json",
        "run.log",
    }
    with open(run / "submission.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["q153", "q164", "q202", "q262"] and len(rows[0]) == 9
    summary = json.loads((run / "summary.json").read_text())
    recomputed = score_files(workspace / "questions.csv", run / "submission.csv", "kaggle")
    assert summary["scores"]["kaggle"]["overall"] == recomputed.overall == summary["overall_score"]
    assert set(summary["scores"]["lenient"]) >= JSON_KEYS  # the keys of `wattbench score --json`
    assert summary["schema_version"] == RunSummary.VERSION and summary["num_questions"] == 4 and summary["complete"]
    assert set(summary["energy"]["phases"]) == {"index_load", "model_load", "questions"}
    assert summary["hardware"]["model_disk_size_gb"] > 0.09 and summary["resources"]["gpu_energy_wh"] is None
    assert summary["resources"]["model_disk_size_gb"] == summary["hardware"]["model_disk_size_gb"]
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert summary["input_tokens"] == sum(r["prompt_tokens"] for r in records) > 0
    assert all(r["latency_s"] == pytest.approx(r["retrieval_s"] + r["generation_s"]) for r in records)
    assert all(r["raw_output"].startswith("{") and r["retrieved"] for r in records)
    # What the model read: sentence windows of retrieved passages' pages, inside the default 250-word budget.
    for r in records:
        assert r["context"] and 0 < r["context_words"] <= 250
        assert {span.split(":p")[0] for span in r["context"]} <= {c.split(":p")[0] for c in r["retrieved"]}
    # llama.cpp times each token of the answer: TTFT inside the generation time, percentiles in the summary.
    assert all(0 < r["ttft_s"] < r["generation_s"] and r["tpot_s"] > 0 for r in records)
    timing = summary["timing"]
    assert min(r["ttft_s"] for r in records) <= timing["ttft_p50_s"] <= timing["ttft_p99_s"]
    compat = json.loads((run / "results.json").read_text())
    assert {"id", "pred_value", "gt_value", "value_correct", "latency_seconds", "retry_count"} <= set(compat[0])
    assert (run / "run.log").read_text().count("INFO") >= 6

    assert main(_args(workspace, "complete")) == 0  # nothing left to do: a second session answers nothing
    again = json.loads((run / "summary.json").read_text())
    assert len(again["sessions"]) == 2 and again["sessions"][1]["questions"] == 0
    assert len((run / "results.jsonl").read_text().splitlines()) == 4


def test_resume_after_kill_loses_nothing(workspace: Path):
    run = workspace / "runs" / "killed"
    command = [str(Path(sys.executable).with_name("wattbench")), *_args(workspace, "killed")]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    process = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 600  # index build and model load first: minutes on a loaded 2-core machine
    while time.monotonic() < deadline:
        lines = (run / "results.jsonl").read_text().splitlines() if (run / "results.jsonl").exists() else []
        if len(lines) >= 2:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len((run / "results.jsonl").read_text().splitlines())
    assert 2 <= done_before < 4

    assert main(_args(workspace, "killed")) == 0
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(QUESTION_IDS)  # every question once: none redone, none lost
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["sessions"]) == 2 and summary["complete"]
    assert summary["total_time_seconds"] == pytest.approx(sum(s["wall_s"] for s in summary["sessions"]))
    assert summary["output_tokens"] == sum(r["completion_tokens"] for r in records)
    assert {r["session"] for r in records} == {1, 2}


def test_a_failing_question_is_recorded_and_the_run_goes_on(workspace: Path, capsys):
    questions = workspace / "overflow.csv"
    huge = "energy " * 6000  # longer than the 4096-token context even with no passages
    questions.write_text(
        f"id,question,answer_value,answer_unit,ref_id\nbig,{huge},1,x,is_blank\nq2,What is PUE?,1.1,x,is_blank\n"
    )
    assert main(_args(workspace, "overflow", "--questions", str(questions))) == 0
    records = {
        r["id"]: r
        for r in map(json.loads, (workspace / "runs" / "overflow" / "results.jsonl").read_text().splitlines())
    }
    big = records["big"]
    # Context spans dropped one at a time down to the last one, then given up.
    assert "context" in big["error"] and big["retries"] >= 1 and len(big["context"]) == 1
    assert records["q2"]["error"] is None
    assert "run partial: 1/2 answered, 1 failed, 0 unparseable" in capsys.readouterr().out


def test_seed_python_config_and_bad_configs(workspace: Path, capsys, monkeypatch):
    seed = workspace / "seed_config.py"
    seed.write_text(
        'llm_provider = "llama_cpp"\ntop_k_final = 2\nmax_retries = 0\nhf_max_new_tokens = 64\n'
        'embedding_model = "hf_local"\nquestions = "ignored by the seed mapping"\n'
    )
    args = [
        "run",
        "--config",
        str(seed),
        "--data-dir",
        str(workspace / "data"),
        "--name",
        "seed",
        "--quiet",
        "--questions",
        str(workspace / "questions.csv"),
        "--limit",
        "1",
    ]
    monkeypatch.chdir(workspace)  # the seed config names no output_dir: the run goes to ./artifacts
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "unknown setting 'questions'; ignored" in captured.err and "run complete: 1/1 answered" in captured.out
    summary = json.loads((workspace / "artifacts" / "experiments" / "seed" / "summary.json").read_text())
    assert summary["config"]["task"]["top_k"] == 2 and summary["config"]["generation"]["max_tokens"] == 64
    assert (summary["config"]["task"]["context"], summary["config"]["task"]["context_words"]) == ("passages", 240)

    bad = workspace / "bad.toml"
    bad.write_text("[generation]\nmax_tokens = -3\n")
    assert main(["run", "--config", str(bad), "--data-dir", str(workspace / "data")]) == 2
    assert "generation.max_tokens: Input should be greater than or equal to 1" in capsys.readouterr().err
    assert main([*_args(workspace, "complete"), "--model", "/other/model.gguf"]) == 2
    assert "was run with model=None" in capsys.readouterr().err
    assert main([*_args(workspace, "x"), "--provider", "llamacp"]) == 2
    assert "did you mean 'llamacpp'" in capsys.readouterr().err


def test_run_through_a_managed_vllm_server(workspace: Path, tmp_path: Path, monkeypatch, capsys):
    fake = Path(__file__).parent / "fakes" / "fake_vllm.py"
    executable = tmp_path / "vllm"
    executable.write_text(f'#!/bin/sh\nexec {sys.executable} {fake} "$@"\n')
    executable.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_VLLM_PIDS", str(tmp_path / "pids"))
    assert main([*_args(workspace, "vllm"), "--provider", "vllm", "--model", "Qwen/Qwen2.5-7B-Instruct"]) == 0
    assert "run complete: 4/4 answered, 0 failed" in capsys.readouterr().out
    summary = json.loads((workspace / "runs" / "vllm" / "summary.json").read_text())
    assert summary["backend"]["engine"] == "vllm" and summary["llm_provider"] == "vllm"
    records = [json.loads(line) for line in (workspace / "runs" / "vllm" / "results.jsonl").read_text().splitlines()]
    assert {r["pred_value"] for r in records} == {"42"} and all(r["completion_tokens"] == 5 for r in records)
    server_pid, worker_pid = map(int, (tmp_path / "pids").read_text().split())
    time.sleep(0.3)
    for pid in (server_pid, worker_pid):  # the run stopped its server and the server's worker
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split()[2] == "Z"  # gone, or a zombie awaiting its reaper


def test_query_planning_counts_its_tokens(workspace: Path):
    planned = workspace / "planned.toml"
    planned.write_text(
        (workspace / "run.toml").read_text().replace("[retrieval]", "[task]\nplanner_max_queries = 2\n[retrieval]")
    )
    for name, config in (("plain", workspace / "run.toml"), ("planned", planned)):
        argv = [
            "run",
            "--config",
            str(config),
            "--data-dir",
            str(workspace / "data"),
            "--name",
            name,
            "--quiet",
            "--limit",
            "1",
        ]
        assert main(argv) == 0
    plain, with_plan = (
        json.loads((workspace / "runs" / n / "results.jsonl").read_text().splitlines()[0]) for n in ("plain", "planned")
    )
    assert plain["planner_queries"] == [] and 1 <= len(with_plan["planner_queries"]) <= 2
    assert with_plan["prompt_tokens"] > plain["prompt_tokens"]  # the plan's own prompt is counted
