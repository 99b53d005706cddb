"""Prefill and decode: a request's window split at its first token, against fake NVML GPUs whose power follows a
script over real time (the engine below makes the GPU draw more while it reads the prompt, as a real one does),
on real llama.cpp, on a batch row against a streaming server, and on a WattBot run through a managed vLLM."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fakes.batch_inputs import models_csv, prompts_jsonl
from fakes.fake_pynvml import FakeGpu, WallClock, make_module
from fakes.servers import StreamingServer
from wattbench.backends.base import Completion, GenerationRequest
from wattbench.energy.base import Measurement
from wattbench.energy.devices import cpu_only
from wattbench.energy.meters import make_meter
from wattbench.energy.phases import phase_figures
from wattbench.runs.loop import run_items

SLACK_S = 0.03  # scheduling and loopback latency on a busy 2-core machine


class BusyGpuEngine:
    """An in-process engine on a fake GPU: `prefill_s` at `prefill_w`, then one token every `itl_s` at
    `decode_w`; the GPU's power schedule follows what the engine is doing, in real time."""

    def __init__(self, gpu: FakeGpu, clock: WallClock, *, prefill_s: float, prefill_w: float, itl_s: float,
                 decode_w: float, tokens: int) -> None:  # fmt: skip
        self.gpu, self.clock = gpu, clock
        self.prefill_s, self.prefill_w, self.itl_s, self.decode_w, self.tokens = (
            prefill_s,
            prefill_w,
            itl_s,
            decode_w,
            tokens,
        )

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        out = []
        for request in requests:
            started = time.perf_counter()
            self.gpu.schedule.append((self.clock.now, self.prefill_w))
            time.sleep(self.prefill_s)
            self.gpu.schedule.append((self.clock.now, self.decode_w))
            for i in range(self.tokens):
                if i:
                    time.sleep(self.itl_s)
                if request.on_output is not None:
                    request.on_output("token")
            self.gpu.schedule.append((self.clock.now, 50.0))  # idle again
            out.append(Completion(text="x" * self.tokens, prompt_tokens=10, completion_tokens=self.tokens,
                                  latency_s=time.perf_counter() - started))  # fmt: skip
        return out

    def info(self) -> dict[str, Any]:
        return {"engine": "busy"}

    def devices(self):
        return cpu_only()

    def close(self) -> None:
        pass


class OneRequest:
    """A task whose items are lists of prompts: each list is sent as one generate call per `calls`."""

    name: ClassVar[str] = "one"
    unit: ClassVar[str] = "items"

    def __init__(self, calls: int = 1) -> None:
        self.calls = calls

    def window(self, item: Any) -> str:
        return "item"

    def start(self, item: list[str]):
        for _ in range(self.calls):
            yield [GenerationRequest(messages=[{"role": "user", "content": text}], max_tokens=8) for text in item]
        return "done"

    def failed(self, item: Any, exc: Exception) -> Any:
        raise exc

    def errors(self, result: Any) -> list[str | None]:
        return [None]


def _windows(task, items, backend, meter) -> list[Measurement]:
    windows: list[Measurement] = []
    run_items(task, items, backend, meter, lambda item, result, window: windows.append(window),
              max_consecutive_failures=3, limit_name="limit")  # fmt: skip
    return windows


def test_the_window_splits_at_the_first_token_on_scripted_power():
    clock = WallClock()
    gpu = FakeGpu(0, "GPU-a", schedule=[(0.0, 50.0)])
    meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=None, clock=clock)
    engine = BusyGpuEngine(gpu, clock, prefill_s=0.3, prefill_w=400.0, itl_s=0.1, decode_w=100.0, tokens=5)
    (window,) = _windows(OneRequest(), [["hi"]], engine, meter)
    prefill, decode = window.phases["prefill"], window.phases["decode"]
    # 0.3 s at 400 W, then 4 gaps of 0.1 s at 100 W: a split in proportion to time or tokens would miss both.
    assert prefill.energy_j["gpu:0"] == pytest.approx(120.0, abs=400 * SLACK_S)
    assert decode.energy_j["gpu:0"] == pytest.approx(40.0, abs=100 * SLACK_S)
    assert prefill.duration_s == pytest.approx(0.3, abs=SLACK_S) and decode.duration_s == pytest.approx(
        0.4, abs=SLACK_S
    )
    assert prefill.energy_j["gpu:0"] + decode.energy_j["gpu:0"] <= window.energy_j["gpu:0"] + 1e-6
    stored = Measurement.from_dict(json.loads(json.dumps(window.to_dict())))  # as results.jsonl keeps it
    assert stored.phases["prefill"].energy_j == prefill.energy_j
    assert stored.phases["decode"].tokens == {"input": 10, "output": 5}  # the split request's own counts
    # The record's counts (here 99 and 50, as a question's record adds its planner call) give way to the request's.
    figures = phase_figures([(window.to_dict()["phases"], 99, 50), (None, 10, 5)])
    gpu_figures = figures["by_kind"]["gpu"]
    assert figures["split_items"] == 1 and figures["unsplit_items"] == 1
    assert gpu_figures["prefill_j_per_input_token"] == pytest.approx(prefill.energy_j["gpu:0"] / 10)
    assert gpu_figures["decode_j_per_output_token"] == pytest.approx(decode.energy_j["gpu:0"] / 4)  # after the first


def test_a_short_prefill_is_estimated_from_power_and_says_so():
    """A prefill shorter than the counter's 100 ms step: the counter cannot resolve it, so it is integrated from
    the power readings the sampler takes inside it (two edge readings alone would see the power around it)."""
    clock = WallClock()
    gpu = FakeGpu(0, "GPU-a", schedule=[(0.0, 50.0)], counter_period_s=0.1)
    meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=500, clock=clock)
    engine = BusyGpuEngine(gpu, clock, prefill_s=0.04, prefill_w=300.0, itl_s=0.05, decode_w=100.0, tokens=6)
    meter.sampler.start()
    try:
        (window,) = _windows(OneRequest(), [["hi"]], engine, meter)
    finally:
        meter.sampler.stop()
    prefill = window.phases["prefill"]
    assert prefill.method["gpu:0"] == "nvml_power_estimate"
    assert any("shorter than the energy counter's update period" in w for w in prefill.warnings)
    assert prefill.energy_j["gpu:0"] == pytest.approx(300.0 * prefill.duration_s, rel=0.3)


def test_a_batch_is_left_whole_and_an_item_of_two_calls_is_split_at_its_last():
    clock = WallClock()
    gpu = FakeGpu(0, "GPU-a", schedule=[(0.0, 50.0)])
    meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=None, clock=clock)
    engine = BusyGpuEngine(gpu, clock, prefill_s=0.2, prefill_w=400.0, itl_s=0.05, decode_w=100.0, tokens=3)
    (batch,) = _windows(OneRequest(), [["a", "b"]], engine, meter)
    assert batch.phases == {} and batch.energy_j["gpu:0"] > 0 and "phases" not in batch.to_dict()
    # A planner call, then the answer: the phases are the answer's, the planner's energy stays in the window only.
    (two,) = _windows(OneRequest(calls=2), [["a"]], engine, meter)
    prefill, decode = two.phases["prefill"], two.phases["decode"]
    assert prefill.duration_s == pytest.approx(0.2, abs=SLACK_S) and decode.duration_s == pytest.approx(
        0.1, abs=SLACK_S
    )
    assert prefill.energy_j["gpu:0"] == pytest.approx(80.0, abs=400 * SLACK_S)
    assert two.duration_s == pytest.approx(0.6, abs=2 * SLACK_S)
    # Nothing measured: no counters are read at the edges, and nothing is split.
    (unmetered,) = _windows(OneRequest(), [["a"]], engine, make_meter("none"))
    assert unmetered.phases == {}


def _split_in_process(backend) -> tuple[Measurement, Completion]:
    """One request through the runs loop on a real in-process engine, metered on a fake GPU at 200 W."""
    clock = WallClock()
    meter = make_meter("nvml", nvml=make_module([FakeGpu(0, "GPU-a", schedule=[(0.0, 200.0)])], clock),
                       gpu_indices=[0], sampler_hz=None, clock=clock)  # fmt: skip
    completions: list[Completion] = []

    class Keep(OneRequest):
        def start(self, item):
            completions.extend((yield [GenerationRequest(messages=[{"role": "user", "content": item}], max_tokens=12)]))
            return "done"

    try:
        (window,) = _windows(Keep(), ["Name a colour."], backend, meter)
    finally:
        backend.close()
    (done,) = completions
    return window, done


@pytest.mark.slow
def test_llama_cpp_in_process_splits_at_its_first_sampled_token():
    from wattbench.backends.registry import create_backend

    window, done = _split_in_process(create_backend("llamacpp"))
    prefill, decode = window.phases["prefill"], window.phases["decode"]
    # The prefill ends where llama.cpp samples its first token (its TTFT); the decode runs to the last.
    assert prefill.duration_s == pytest.approx(done.ttft_s, abs=SLACK_S)
    assert prefill.energy_j["gpu:0"] == pytest.approx(200.0 * done.ttft_s, abs=200 * SLACK_S)
    assert decode.duration_s == pytest.approx(done.latency_s - done.ttft_s, abs=SLACK_S)
    assert decode.energy_j["gpu:0"] == pytest.approx(200.0 * decode.duration_s, rel=0.02)


def test_hf_in_process_splits_at_its_first_decoding_step(wattbot: Path, tmp_path: Path):
    from fakes.tiny_model import build_tiny_llama
    from wattbench.backends.registry import create_backend
    from wattbench.data.wattbot import load_corpus

    texts = [p.text for d in load_corpus(wattbot / "corpus")[:2] for page in d.pages for p in page.paragraphs]
    model = build_tiny_llama(tmp_path / "tiny-llama", texts)
    window, done = _split_in_process(create_backend("hf", model=str(model), dtype="fp32", max_batch_size=1))
    prefill, decode = window.phases["prefill"], window.phases["decode"]
    assert done.ttft_s is not None and prefill.duration_s == pytest.approx(done.ttft_s, abs=SLACK_S)
    assert decode.duration_s == pytest.approx(done.latency_s - done.ttft_s, abs=SLACK_S)
    assert prefill.energy_j["gpu:0"] == pytest.approx(200.0 * prefill.duration_s, rel=0.05)


def test_a_batch_row_at_batch_size_1_reports_prefill_and_decode(tmp_path: Path):
    from wattbench.campaigns.batch import plan_rows, run_batch
    from wattbench.config import BatchConfig, EnergyConfig
    from wattbench.data.models_csv import Filters
    from wattbench.runs.textgen_prompts import batch_prompts
    from wattbench.store.batch_dir import BatchDir

    clock = WallClock()
    meter = make_meter("nvml", nvml=make_module([FakeGpu(0, "GPU-a", schedule=[(0.0, 250.0)])], clock),
                       gpu_indices=[0], sampler_hz=None, clock=clock)  # fmt: skip
    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", [f"question {i}" for i in range(3)])
    server = StreamingServer(ttft_s=0.2, itl_s=0.05, tokens=5)
    rows = []
    try:
        for size in (1, 3):
            out = tmp_path / f"out{size}"
            config = BatchConfig(models_csv=str(models), prompts_file=str(prompts), num_prompts=3, backend="openai",
                                 endpoint=server.url, gpus=[0], output_dir=str(out), max_new_tokens=5,
                                 batch_size=size, energy=EnergyConfig(meter="nvml", idle_seconds=0))  # fmt: skip
            _, specs = plan_rows(config, Filters())
            run_batch(config, specs, batch_prompts(config), meter=meter)
            run = next((out / "individual_runs").iterdir())
            records = [json.loads(line) for line in (run / "prompts.jsonl").read_text().splitlines()]
            rows.append((BatchDir(out).read_master()[0], records))
    finally:
        server.close()
    (row, records), (batched_row, batched) = rows
    # Each prompt: its first token 0.2 s after it was sent, then 4 more 0.05 s apart, on a GPU drawing 250 W.
    for record in records:
        assert record["prefill_energy_j"] == pytest.approx(250 * 0.2, abs=250 * SLACK_S)
        assert record["decode_energy_j"] == pytest.approx(250 * 0.2, abs=250 * SLACK_S)
        assert record["prefill_energy_j"] + record["decode_energy_j"] <= record["gpu_energy_j"] + 1e-6
    prefill_j = sum(r["prefill_energy_j"] for r in records)
    assert row.prefill_j_per_input_token == pytest.approx(prefill_j / 15)  # the server counts 5 prompt tokens
    assert row.decode_j_per_output_token == pytest.approx(sum(r["decode_energy_j"] for r in records) / 12)
    # Three prompts in one call share their steps: each gets its share by the in-flight rule (energy/inflight.py).
    # The power is flat, so the draws cannot be told apart: the three, in flight together, share every stretch.
    assert all(r["energy_share"] == "in_flight" for r in batched) and batched_row.energy_share == "in_flight"
    for record in batched:
        assert record["prefill_energy_j"] == pytest.approx(250 * 0.2 / 3, abs=250 * SLACK_S)
        assert record["decode_energy_j"] == pytest.approx(250 * 0.2 / 3, abs=250 * SLACK_S)
    assert sum(r["gpu_energy_j"] for r in batched) == pytest.approx(batched_row.gpu_energy_wh * 3600, rel=0.2)
    assert batched_row.prefill_j_per_input_token is not None
    assert row.energy_share == "output_tokens"  # one prompt a call: the whole window, split at its first token


@pytest.mark.slow
def test_a_wattbot_run_through_managed_vllm_splits_each_question(workspace: Path, tmp_path: Path, monkeypatch):
    from wattbench.cli import main

    fake = Path(__file__).parent / "fakes" / "fake_vllm.py"
    executable = tmp_path / "vllm"
    executable.write_text(f'#!/bin/sh\nexec {sys.executable} {fake} "$@"\n')
    executable.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    for name, value in {"FAKE_VLLM_PIDS": str(tmp_path / "pids"), "FAKE_VLLM_STREAM": "1",
                        "FAKE_VLLM_TTFT_S": "0.15", "FAKE_VLLM_ITL_S": "0.02"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(sys.modules, "pynvml", make_module([FakeGpu(0, "GPU-a", schedule=[(0.0, 300.0)])], WallClock()))
    config = tmp_path / "vllm.toml"
    config.write_text((workspace / "run.toml").read_text().replace("[energy]\n", '[energy]\nmeter = "nvml"\n'))
    args = ["run", "--config", str(config), "--data-dir", str(workspace / "data"), "--name", "phases", "--quiet",
            "--provider", "vllm", "--model", "Qwen/Qwen2.5-7B-Instruct"]  # fmt: skip
    assert main(args) == 0
    run = workspace / "runs" / "phases"
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    for record in records:  # 0.15 s to the first token at 300 W, then 4 tokens 0.02 s apart
        assert record["prefill_energy_j"] == pytest.approx(300 * 0.15, abs=300 * SLACK_S)
        assert record["decode_energy_j"] == pytest.approx(300 * 0.08, abs=300 * SLACK_S)
        assert set(record["energy"]["phases"]) == {"prefill", "decode"}
    figures = json.loads((run / "summary.json").read_text())["energy"]["prefill_decode"]
    assert figures["split_items"] == len(records) == 4 and figures["unsplit_items"] == 0
    gpu = figures["by_kind"]["gpu"]
    assert gpu["prefill_j_per_input_token"] == pytest.approx(sum(r["prefill_energy_j"] for r in records) / (9 * 4))
    assert gpu["decode_j_per_output_token"] == pytest.approx(sum(r["decode_energy_j"] for r in records) / (4 * 4))


@pytest.fixture(scope="module")
def workspace(wattbot: Path, tmp_path_factory) -> Path:
    from fakes.workspace import make_workspace

    return make_workspace(wattbot, tmp_path_factory.mktemp("phases"))


def test_a_batch_row_keeps_what_its_windows_found_a_reset_and_a_prefill_estimated_from_power(tmp_path: Path):
    """The row's calls are nested windows: before, each drained the counter-reset warning first and the row kept
    only totals (`warnings: []` everywhere), and a 50 ms prefill estimated from power was under
    `energy_method: nvml_counter` with nothing to say so."""
    from wattbench.campaigns.batch import plan_rows, run_batch
    from wattbench.config import BatchConfig, EnergyConfig
    from wattbench.data.models_csv import Filters
    from wattbench.runs.textgen_prompts import batch_prompts
    from wattbench.store.batch_dir import BatchDir

    clock = WallClock()
    # A quantised counter (100 ms steps) that the driver resets 0.5 s into the row.
    gpu = FakeGpu(0, "GPU-a", schedule=[(0.0, 250.0)], counter_period_s=0.1, resets_at=clock.now + 0.5)
    meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=None, clock=clock)
    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", [f"question {i}" for i in range(4)])
    server = StreamingServer(ttft_s=0.05, itl_s=0.05, tokens=5)
    out = tmp_path / "out"
    config = BatchConfig(models_csv=str(models), prompts_file=str(prompts), num_prompts=4, backend="openai",
                         endpoint=server.url, gpus=[0], output_dir=str(out), max_new_tokens=5, warmup_prompts=0,
                         energy=EnergyConfig(meter="nvml", idle_seconds=0))  # fmt: skip
    try:
        _, specs = plan_rows(config, Filters())
        run_batch(config, specs, batch_prompts(config), meter=meter)
    finally:
        server.close()
    run = next((out / "individual_runs").iterdir())
    records = [json.loads(line) for line in (run / "prompts.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    row = BatchDir(out).read_master()[0]
    resets = [w for w in summary["energy_warnings"] if "energy counter reset" in w]
    assert len(resets) == 1 and "energy counter reset" in " ".join(summary["energy"]["warnings"])
    assert sum(any("energy counter reset" in w for w in r["energy_warnings"]) for r in records) == 1
    # Every prefill (50 ms) was shorter than the counter's step: estimated from power, and each record says so.
    assert all(r["phase_energy_method"] == "nvml_counter,nvml_power_estimate" for r in records)
    assert all(r["energy_method"] == "nvml_counter" for r in records)
    assert row.phase_energy_method == "nvml_counter,nvml_power_estimate" and row.energy_method == "nvml_counter"
    assert row.energy_warnings == len(summary["energy_warnings"]) >= 1
    log = next((out / "logs").glob("*.log")).read_text()
    assert "energy counter reset" in log
