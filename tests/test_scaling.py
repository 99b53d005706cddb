"""`wattbench scaling`: the dry-run plan (sizes, configs, memory fit) and one real run of a family by size."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fakes.fake_pynvml import Clock, FakeGpu, make_module
from fakes.workspace import make_workspace
from wattbench.campaigns.scaling import plan_scaling
from wattbench.cli import main
from wattbench.config import ConfigError
from wattbench.data.model_sizes import load_sizes, need_gb
from wattbench.energy.hardware import free_memory_gb, visible_gpus

REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_plan_takes_configs_derives_missing_sizes_and_skips_what_does_not_fit():
    table = load_sizes()
    steps = plan_scaling(
        "qwen2.5", ["7", "0.5", "32", "9"], table, REPO_CONFIGS, free_memory=lambda: (24.0, "1 GPU(s)")
    )
    assert [s.size for s in steps] == ["0.5", "7", "32", "9"]  # smallest first; unknown last
    small, seven, big, unknown = steps
    assert small.status == "run" and small.config_source == f"derived from {REPO_CONFIGS / 'hf_qwen2.5-1.5b.toml'}"
    assert small.config.model == "Qwen/Qwen2.5-0.5B-Instruct" and small.run == "hf-qwen2.5-0.5b"
    assert small.config.generation.dtype == "bf16"  # the family config's settings carry over
    assert seven.config_source == str(REPO_CONFIGS / "hf_qwen2.5-7b.toml") and seven.status == "run"
    assert seven.need_gb == pytest.approx(7.62 * 2 * 1.2 + 1)
    assert big.status == "skip" and big.reason == "needs ~79.7 GB, 24.0 GB free on 1 GPU(s)"
    assert unknown.status == "skip" and "no qwen2.5 model of size 9" in unknown.reason
    vllm = plan_scaling("qwen2.5", ["7"], table, REPO_CONFIGS, provider="vllm")
    assert vllm[0].run == "vllm-qwen2.5-7b" and vllm[0].status == "run"  # free memory unknown: not skipped
    with pytest.raises(ConfigError, match="--family qwen9: not in model_sizes.toml"):
        plan_scaling("qwen9", None, table, REPO_CONFIGS)
    assert need_gb(10, "fp32") == pytest.approx(49.0) and need_gb(10, "int4") == pytest.approx(7.0)


def test_free_memory_reads_the_visible_gpus(monkeypatch):
    gpus = [FakeGpu(0, "GPU-a", memory_used=30 * 2**30), FakeGpu(1, "GPU-b")]
    nvml = make_module(gpus, Clock())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    free, where = free_memory_gb(nvml)
    assert free == pytest.approx(70 * 2**30 / 1e9) and where == "1 GPU(s)"
    assert visible_gpus(nvml) == {1: pytest.approx(80 * 2**30 / 1e9)}  # what the local executor packs onto
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert free_memory_gb(nvml)[0] == pytest.approx((50 + 70) * 2**30 / 1e9)


def test_dry_run_cli(capsys):
    args = ["scaling", "--family", "qwen2.5", "--sizes", "1.5", "3", "7", "--configs", str(REPO_CONFIGS)]
    assert main([*args, "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(" as hf-qwen2.5-" in line for line in lines)
    assert main(["scaling", "--family", "nope", "--dry-run", "--configs", str(REPO_CONFIGS)]) == 2


@pytest.mark.slow
def test_a_family_by_size_end_to_end(wattbot: Path, tmp_path: Path, capsys):
    """SmolLM2 135M runs for real on llama.cpp; 360M has no GGUF here and fails with its reason; the
    comparison has both, and a second call with --skip-existing reuses the finished size."""
    root = make_workspace(wattbot, tmp_path)
    configs = root / "configs"
    configs.mkdir()
    base = (root / "run.toml").read_text()
    (configs / "smol.toml").write_text(f'name = "smol-135m"\nmodel = "HuggingFaceTB/SmolLM2-135M-Instruct"\n{base}')
    out = root / "scaling"
    args = ["scaling", "--family", "smollm2", "--configs", str(configs), "--out", str(out)]
    args += ["--data-dir", str(root / "data")]
    # Both sizes side by side on two CPU slots; the comparison keeps the smallest-first order.
    assert main([*args, "--sizes", "0.36", "0.135", "--executor", "local", "--slots", "2"]) == 1  # one size failed
    captured = capsys.readouterr()
    assert "local: 2 CPU slot(s)" in captured.err
    printed = captured.out
    assert "passed    size 0.135" in printed and "failed    size 0.36" in printed
    with open(out / "scaling_comparison.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["size"], r["status"]) for r in rows] == [("0.135", "passed"), ("0.36", "failed")]
    assert float(rows[0]["overall"]) >= 0 and float(rows[0]["latency_s"]) > 0 and rows[0]["energy_wh"] == ""
    assert "SmolLM2-360M" in rows[1]["reason"] or "gguf" in rows[1]["reason"].lower()
    data = json.loads((out / "scaling_comparison.json").read_text())
    assert data["family"] == "smollm2" and data["sizes"][0]["run"] == "smol-135m"
    assert main([*args, "--sizes", "0.135", "--skip-existing"]) == 0
    assert "exists    size 0.135" in capsys.readouterr().out


def test_the_comparison_has_intervals_and_each_size_against_the_previous_paired(wattbot: Path, tmp_path: Path):
    from fakes.store import read_solution, write_run
    from wattbench.campaigns.scaling import SizeStep, write_comparison
    from wattbench.config import ExperimentConfig

    solution = wattbot / "train_QA.csv"
    n = len(read_solution(solution))
    runs = tmp_path / "runs"
    # 1.5B and 3B tie (one question apart); 7B answers every question the 3B got and 25 more.
    patterns = {"1.5": [i < 10 for i in range(n)], "3": [i < 11 for i in range(n)], "7": [i < 36 for i in range(n)]}
    steps = []
    for size, right in patterns.items():
        name = f"qwen-{size}b"
        write_run(runs, name, solution, correct=0, right=right)
        config = ExperimentConfig(name=name, output_dir=str(runs))
        steps.append(SizeStep(size=size, model=f"Qwen/Qwen2.5-{size}B-Instruct", params_b=float(size), run=name,
                              status="passed", config=config))  # fmt: skip
    csv_path, _ = write_comparison(tmp_path / "out", "qwen2.5", steps)
    rows = {r["size"]: r for r in csv.DictReader(open(csv_path, encoding="utf-8"))}
    assert rows["1.5"]["vs_previous"] == "" and rows["3"]["vs_previous"] == "qwen-1.5b"
    for row in rows.values():
        assert float(row["overall_ci95_low"]) <= float(row["overall"]) <= float(row["overall_ci95_high"])
    assert rows["3"]["vs_previous_verdict"] == "no detectable difference"
    assert rows["7"]["vs_previous_verdict"] == "qwen-7b better" and int(rows["7"]["vs_previous_n"]) == n
    assert float(rows["7"]["vs_previous_p_adjusted"]) >= float(rows["7"]["vs_previous_p"])
    gain = float(rows["7"]["overall"]) - float(rows["3"]["overall"])
    assert float(rows["7"]["vs_previous_diff"]) == pytest.approx(gain)
