"""`wattbench load`: the steady-state window (exact on a scripted clock, and against a scripted streaming server
on 127.0.0.1 with a fake NVML GPU drawing scripted power in real time), the sweep's files and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.fake_pynvml import FakeGpu, WallClock, make_module
from fakes.servers import StreamingServer
from wattbench.cli import main
from wattbench.energy.meters import make_meter
from wattbench.runs.load import measure_point
from wattbench.runs.steady import SteadyWindow


class Script:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_window_opens_at_the_b_th_first_token_and_closes_at_the_n_minus_b_th_finish():
    clock = Script()
    steady = SteadyWindow(make_meter("none"), in_flight=2, total=5, clock=clock)
    hooks = [steady.hook(i) for i in range(5)]
    events = [  # (time, request, event): two in flight, each request 3 tokens
        (1.0, 0, "token"), (1.5, 1, "token"), (2.0, 0, "token"), (2.5, 1, "token"), (3.0, 0, "token"),
        (3.1, 0, "done"), (3.5, 2, "token"), (3.6, 1, "token"), (3.7, 1, "done"), (4.0, 3, "token"),
        (4.5, 2, "token"), (5.0, 3, "token"), (5.5, 2, "token"), (5.6, 2, "done"), (6.0, 4, "token"),
        (6.5, 3, "token"), (6.6, 3, "done"), (7.0, 4, "token"), (8.0, 4, "token"), (8.1, 4, "done"),
    ]  # fmt: skip
    for at, request, event in events:
        clock.now = at
        hooks[request](event)
    steady.finish()
    assert (steady.start_s, steady.end_s) == (1.5, 5.6) and steady.problem is None  # 2nd first token; 3rd finish
    # Inside [1.5, 5.6]: r0 at 2.0, 3.0; r1 at 1.5, 2.5, 3.6; r2 at 3.5, 4.5, 5.5; r3 at 4.0, 5.0.
    assert steady.tokens_in_window([3, 3, 3, 3, 3]) == 10
    assert steady.tokens_in_window([6, 6, 6, 6, 6]) == 20  # two tokens to a chunk: each chunk counts double
    with pytest.raises(ValueError, match="at least 10"):
        SteadyWindow(make_meter("none"), in_flight=5, total=9)


def test_a_sweep_point_against_a_streaming_server_measures_the_full_batch(tmp_path: Path):
    clock = WallClock()
    nvml = make_module([FakeGpu(0, "GPU-a", schedule=[(0.0, 250.0)])], clock)
    meter = make_meter("nvml", nvml=nvml, gpu_indices=[0], sampler_hz=None, clock=clock)
    server = StreamingServer(ttft_s=0.1, itl_s=0.05, tokens=6)
    try:
        point = measure_point("openai", {"model": "m", "base_url": server.url, "gpus": [0]}, ["hi"], 2, 6, 6, meter)
    finally:
        server.close()
    # Each request: first token at 0.1 s, the last at 0.35 s. Two in flight: the window runs from the 2nd first
    # token (0.1 s) to the 4th finish (0.7 s), and holds 5 + 6 tokens of the first pair and 12 of the second.
    assert point.completed == 6 and point.problem is None
    assert point.window_s == pytest.approx(0.6, abs=0.08)
    assert 22 <= point.window_output_tokens <= 24
    assert point.avg_gpu_power_w == pytest.approx(250.0, rel=0.05)
    assert point.j_per_output_token == pytest.approx(250.0 * point.window_s / point.window_output_tokens, rel=0.05)
    assert point.ttft_p50_s == pytest.approx(0.1, abs=0.03) and point.tpot_p50_s == pytest.approx(0.05, abs=0.015)
    # Per request (energy/inflight.py): always two in flight on a flat 250 W, each for its 0.35 s.
    assert point.request_energy_p50_j == pytest.approx(125.0 * 0.35, rel=0.15)
    assert point.request_energy_p50_j <= point.request_energy_p90_j < 2 * point.request_energy_p50_j
    assert point.request_prefill_p50_j + point.request_decode_p50_j <= point.request_energy_p90_j * 1.01
    assert [p["max_tokens"] for p in server.payloads[2:]] == [6] * 6  # after the two warm-up requests
    assert all(p["min_tokens"] == 6 and p["stream"] for p in server.payloads[2:])


def _sweep_inputs(tmp_path: Path, texts: list[str]) -> tuple[StreamingServer, Path, Path]:
    """A streaming server, a load config pointing at it (no meter) and a prompts file."""
    server = StreamingServer(ttft_s=0.01, itl_s=0.005, tokens=4)
    config = tmp_path / "load.toml"
    config.write_text(f'provider = "openai"\nmodel = "m"\n[generation]\nbase_url = "{server.url}"\n'
                      '[energy]\nmeter = "none"\n', encoding="utf-8")  # fmt: skip
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(f'{{"prompt": "{t}"}}\n' for t in texts), encoding="utf-8")
    return server, config, prompts


def test_wattbench_load_writes_its_files_and_refuses_what_cannot_work(tmp_path: Path, capsys):
    server, config, prompts = _sweep_inputs(tmp_path, ["a", "b"])
    out = tmp_path / "load_results"
    try:
        code = main(["load", "--config", str(config), "--batch-sizes", "1,2", "--requests", "4", "--max-tokens", "4",
                     "--prompts-file", str(prompts), "--output-dir", str(out)])  # fmt: skip
    finally:
        server.close()
    assert code == 0
    result = json.loads((out / "load.json").read_text())
    assert [p["batch_size"] for p in result["points"]] == [1, 2] and "0.12 J" in result["anchor"]
    assert all(p["completed"] == 4 and p["output_tokens_per_s"] > 0 for p in result["points"])
    assert "energy metering is off" in result["points"][0]["energy_unavailable"]
    assert (out / "load.csv").read_text().startswith("batch_size,") and (out / "load_j_per_token.svg").exists()
    assert main(["load", "--config", str(config), "--batch-sizes", "8", "--requests", "10"]) == 2
    assert "at least 16" in capsys.readouterr().err
    assert main(["load", "--config", str(config), "--batch-sizes", "0,x"]) == 2
    llama = tmp_path / "llama.toml"
    llama.write_text('provider = "llamacpp"\n', encoding="utf-8")
    assert main(["load", "--config", str(llama), "--batch-sizes", "1", "--requests", "2",
                 "--prompts-file", str(prompts)]) == 2  # fmt: skip
    assert "no load mode" in capsys.readouterr().err


def test_engines_say_how_they_are_loaded():
    from wattbench.backends.hf import HfBackend
    from wattbench.backends.vllm_server import VllmServerBackend

    vllm = VllmServerBackend.at_load({"model": "m", "extra_args": ["--max-num-seqs", "256", "--enforce-eager"]}, 8)
    assert vllm["extra_args"] == ["--enforce-eager", "--max-num-seqs", "8"]  # the sweep's B replaces the config's
    assert vllm["max_concurrent"] == 8 and vllm["stream"] is True
    assert HfBackend.at_load({"model": "m", "max_batch_size": 1}, 32)["max_batch_size"] == 32


@pytest.mark.slow
def test_a_managed_vllm_is_restarted_with_max_num_seqs_b_for_each_point(tmp_path: Path, monkeypatch):
    """The sweep starts the server once per batch size, with `--max-num-seqs B`, and streams from it."""
    import os
    import sys

    fake = Path(__file__).parent / "fakes" / "fake_vllm.py"
    executable = tmp_path / "vllm"
    executable.write_text(f'#!/bin/sh\nexec {sys.executable} {fake} "$@"\n')
    executable.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    for name, value in {"FAKE_VLLM_PIDS": str(tmp_path / "pids"), "FAKE_VLLM_ARGS": str(tmp_path / "args"),
                        "FAKE_VLLM_STREAM": "1", "FAKE_VLLM_ITL_S": "0.005"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    config = tmp_path / "load.toml"
    config.write_text('provider = "vllm"\nmodel = "Qwen/Qwen2.5-7B-Instruct"\n[energy]\nmeter = "none"\n')
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a"}\n{"prompt": "b"}\n', encoding="utf-8")
    out = tmp_path / "load_results"
    assert main(["load", "--config", str(config), "--batch-sizes", "1,2", "--requests", "4", "--max-tokens", "6",
                 "--prompts-file", str(prompts), "--output-dir", str(out)]) == 0  # fmt: skip
    starts = (tmp_path / "args").read_text().splitlines()
    assert len(starts) == 2
    assert [start.split()[start.split().index("--max-num-seqs") + 1] for start in starts] == ["1", "2"]
    points = json.loads((out / "load.json").read_text())["points"]
    assert [p["completed"] for p in points] == [4, 4] and all(p["problem"] is None for p in points)
    assert all(p["tpot_p50_s"] is not None for p in points)  # streamed: each token timed


def test_the_report_reads_every_sweep_and_names_a_broken_one(tmp_path: Path):
    from wattbench.errors import DataError
    from wattbench.report.load_section import find_sweeps
    from wattbench.runs.load import LoadPoint, write_results

    point = LoadPoint(batch_size=4, requests=8, completed=8, failed=0, window_s=1.0, window_output_tokens=40.0,
                      gpu_energy_j=None, j_per_output_token=None, output_tokens_per_s=40.0, avg_gpu_power_w=None,
                      ttft_p50_s=0.1, ttft_p90_s=0.1, ttft_p99_s=0.1, tpot_p50_s=0.02, tpot_p90_s=0.02,
                      tpot_p99_s=0.02, energy_unavailable="metering is off", problem=None,
                      first_error=None)  # fmt: skip
    write_results(tmp_path / "a", [point], {"engine": "openai"})
    write_results(tmp_path / "b", [point, point], {"engine": "vllm"})
    sweeps = find_sweeps(tmp_path)
    assert [(s.name, len(s.points), s.facts["engine"]) for s in sweeps] == [("a", 1, "openai"), ("b", 2, "vllm")]
    assert find_sweeps(tmp_path / "missing") == []
    (tmp_path / "b" / "load.json").write_text('{"points": [{"batch_size": "x"', encoding="utf-8")
    with pytest.raises(DataError, match=r"b/load.json: not a wattbench load result"):
        find_sweeps(tmp_path)


def test_repeated_passes_per_batch_size_give_the_mean_and_its_interval(tmp_path: Path, capsys):
    import statistics
    from dataclasses import replace

    from wattbench.runs.load import LoadPoint, combine
    from wattbench.stats.repeats import t_quantile

    base = LoadPoint(batch_size=8, requests=32, completed=32, failed=0, window_s=2.0, window_output_tokens=1000.0,
                     gpu_energy_j=100.0, j_per_output_token=0.1, output_tokens_per_s=500.0, avg_gpu_power_w=50.0,
                     ttft_p50_s=0.1, ttft_p90_s=0.2, ttft_p99_s=0.3, tpot_p50_s=0.01, tpot_p90_s=0.02, tpot_p99_s=0.03,
                     energy_unavailable=None, problem=None, first_error=None)  # fmt: skip
    scripted = [0.10, 0.12, 0.11]
    point = combine([replace(base, j_per_output_token=j, output_tokens_per_s=400 + 100 * i)
                     for i, j in enumerate(scripted)])  # fmt: skip
    half = t_quantile(0.975, 2) * statistics.stdev(scripted) / 3**0.5
    assert point.repeats == 3 and len(point.passes) == 3 and point.requests == 96
    assert point.j_per_output_token == pytest.approx(0.11) and point.j_per_output_token_sd == pytest.approx(0.01)
    assert (point.j_per_output_token_ci95_low, point.j_per_output_token_ci95_high) == pytest.approx(
        (0.11 - half, 0.11 + half)
    )
    assert point.output_tokens_per_s == pytest.approx(500.0) and combine([base]) is base  # one pass: as it is
    # End to end: three passes per batch size, each kept in load.json; the CSV stays flat.
    server, config, prompts = _sweep_inputs(tmp_path, ["a"])
    out = tmp_path / "load_results"
    try:
        code = main(["load", "--config", str(config), "--batch-sizes", "1", "--requests", "2", "--max-tokens", "4",
                     "--prompts-file", str(prompts), "--output-dir", str(out), "--repeats", "3"])  # fmt: skip
    finally:
        server.close()
    assert code == 0
    (only,) = json.loads((out / "load.json").read_text())["points"]
    assert only["repeats"] == 3 and [p["pass"] for p in only["passes"]] == [0, 1, 2]
    assert only["output_tokens_per_s_ci95_low"] <= only["output_tokens_per_s"] <= only["output_tokens_per_s_ci95_high"]
    assert "passes" not in (out / "load.csv").read_text().splitlines()[0].split(",")


def test_a_sweep_samples_power_so_a_gpu_without_a_counter_is_measured_and_few_readings_are_said(tmp_path: Path):
    """A GPU without an energy counter whose power steps between 80 W and 400 W every 0.1 s. Before, the sweep
    never started the sampler: the steady window was integrated from its two edge readings (J/token 16-33% off)
    and the meter's "only 2 readings" warning was dropped from the point."""
    from wattbench.campaigns.load import run_load
    from wattbench.runs.checks import load_run_config

    server = StreamingServer(ttft_s=0.05, itl_s=0.05, tokens=12)
    config_path = tmp_path / "load.toml"
    config_path.write_text('provider = "openai"\nmodel = "m"\n', encoding="utf-8")
    clock = WallClock()
    start = clock.now
    steps = [(0.0, 80.0)] + [(start + 0.1 * k, 400.0 if k % 2 else 80.0) for k in range(1, 2000)]
    gpu = FakeGpu(0, "GPU-a", schedule=steps, has_counter=False)
    config, _ = load_run_config(config_path, {"generation.gpus": [0], "generation.base_url": server.url})
    points = {}
    try:
        for hz in (200, None):
            meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=hz, clock=clock)
            out = tmp_path / f"out_{hz}"
            (points[hz],) = run_load(config, [2], 8, 12, ["a"], out, notify=lambda m: None, meter=meter)
    finally:
        server.close()
    sampled, edges_only = points[200], points[None]
    assert sampled.window_s > 1.0 and sampled.energy_method == "nvml_power_sampling"
    t0, t1 = clock.edges_of(sampled.window_s)
    assert sampled.gpu_energy_j == pytest.approx(gpu.energy_j(t0, t1), rel=0.03)
    assert not sampled.warnings and (tmp_path / "out_200" / "power.csv").read_text().count("gpu:0") > 100
    assert any("power integrated from only 2 readings" in w for w in edges_only.warnings)
    row = json.loads((tmp_path / "out_None" / "load.json").read_text())["points"][0]
    assert any("only 2 readings" in w for w in row["warnings"])
