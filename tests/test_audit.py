"""`wattbench audit`: each flag on a run dir built to trip it, and nothing on a clean one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.store import write_run
from wattbench.cli import main
from wattbench.report.audit import audit_runs
from wattbench.report.runs import load_runs

GPU_RUN = {"hardware.gpu_count": 1, "backend.devices": ["cuda:0"]}
DISAGREE = "gpu:0: counter energy 100.0 J and integrated power 150.0 J disagree by 33%"
RESET = "q003: gpu:0: energy counter reset (5000000 → 120 mJ); counted from 0"
SHARED = {"scope": "gpu:0", "pid": 4242, "name": "python", "used_memory_mib": 2048.0}

CASES: dict[str, tuple[dict, str]] = {
    "no_tokens": ({"tokens": (500, 0)}, "0 output tokens"),
    "zero_latency": ({"latency_s": 0.0}, "mean latency is 0"),
    "high_latency": ({"latency_s": 300.0}, "300.0 s > 120 s"),
    "zero_cost": ({"provider": "openai", "model": "gpt-4o-mini"}, "on an API model"),
    "error_rate": ({"errors": 5}, "5/41 questions failed (12% > 10%)"),
    "low_score": ({"correct": 2}, "< 0.2"),
    "score_mismatch": ({"overrides": {"scores.kaggle.overall": 0.9}}, "≠ recomputed"),
    "energy_missing": ({"overrides": GPU_RUN}, "a GPU run with no GPU energy: no GPU"),
    "counter_power_disagreement": (
        {"gpu_wh_per_question": 0.1, "overrides": {"energy.phases.questions.warnings": [DISAGREE]}},
        "disagree by 33%",
    ),
    "totals_mismatch": (
        {"overrides": {"tokens.output": 7, "sessions": [{"wall_s": 10.0}, {"wall_s": 10.0}]}},
        "2 session(s); output_tokens 7 vs 1640 summed over results.jsonl; total time 46.0 s vs 20.0 s",
    ),
    "incomplete": ({"overrides": {"complete": False}}, "resume it"),
    "counter_reset": (
        {"gpu_wh_per_question": 0.1, "overrides": {"energy.warnings": [RESET]}},
        "energy counter reset",
    ),
    "shared_gpu": (
        {"gpu_wh_per_question": 0.1, "overrides": {"energy.shared_gpu": [SHARED]}},
        "1 other process(es) used the run's GPUs while it was measured (pid 4242 python on gpu:0)",
    ),
}


def _audit(root: Path, solution: Path) -> dict:
    runs, warnings = load_runs(root)
    assert warnings == []
    return {a.name: a for a in audit_runs(runs, solution)}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_flag_fires_alone(code: str, tmp_path: Path, wattbot: Path):
    solution = wattbot / "train_QA.csv"
    kwargs, message = CASES[code]
    write_run(tmp_path, "clean", solution, correct=25)
    write_run(tmp_path, code, solution, **{"correct": 25, "model": "other/model", **kwargs})
    audits = _audit(tmp_path, solution)
    assert audits["clean"].clean, audits["clean"].flags
    flags = audits[code].flags
    assert [f.code for f in flags] == [code], flags
    assert message in flags[0].message


def test_error_rate_at_the_threshold_and_a_priced_local_model(tmp_path: Path, wattbot: Path):
    solution = wattbot / "train_QA.csv"
    write_run(tmp_path, "four_errors", solution, correct=25, errors=4)  # 9.8%: under 10%
    # A local model priced per token (a rented GPU billed by the token) that recorded no cost.
    write_run(tmp_path, "priced", solution, correct=25, model="m2", overrides={"cost.price_output_per_1m": 1.0})
    write_run(tmp_path, "api_paid", solution, correct=25, model="gpt-4o", provider="openai", price_per_1m=(2.5, 10))
    audits = _audit(tmp_path, solution)
    assert audits["four_errors"].clean and audits["api_paid"].clean
    assert [f.code for f in audits["priced"].flags] == ["zero_cost"]
    assert "priced per token" in audits["priced"].flags[0].message


def test_duplicates_are_same_model_same_settings(tmp_path: Path, wattbot: Path):
    solution = wattbot / "train_QA.csv"
    write_run(tmp_path, "a", solution, correct=25)
    write_run(tmp_path, "b", solution, correct=25)
    write_run(tmp_path, "warm", solution, correct=25, overrides={"config.generation.temperature": 0.7})
    audits = _audit(tmp_path, solution)
    assert [f.message for f in audits["a"].flags] == ["hf/Qwen/Qwen2.5-7B-Instruct with the same settings as b"]
    assert [f.code for f in audits["b"].flags] == ["duplicate"]
    assert audits["warm"].clean  # another temperature: a comparison, not a duplicate


def test_cli_text_json_and_strict(tmp_path: Path, wattbot: Path, capsys):
    solution = wattbot / "train_QA.csv"
    write_run(tmp_path, "good", solution, correct=25)
    write_run(tmp_path, "slow", solution, correct=25, model="m", latency_s=50.0)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text("{not json")
    args = ["audit", "--experiments-dir", str(tmp_path), "--solution", str(solution)]
    assert main([*args, "--max-latency-s", "30"]) == 0
    out, err = capsys.readouterr()
    assert "slow (hf/m): 1 flag(s)\n  [high_latency] mean latency 50.0 s > 30 s" in out
    assert "clean (1 of 2): good" in out
    assert "broken/summary.json: cannot read" in err
    assert main([*args, "--json", "--strict", "--max-latency-s", "30"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {d["name"]: d["clean"] for d in lines} == {"good": True, "slow": False}
    assert main(["audit", "--experiments-dir", str(tmp_path / "none")]) == 2
