"""How energy is measured (issue "Energy figures a paper can cite"): short windows, stuck and disagreeing
counters, failed reads, MIG, RAPL advice, the sampler in batch rows, and fair per-prompt shares.

The GPUs are the fake NVML module (a double of the hardware: scripted power over a clock, with the counter and
power readings a real driver gives), never a double of wattbench."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fakes.fake_pynvml import Clock, FakeGpu, WallClock, make_module
from fakes.servers import TokenServer
from wattbench.campaigns.batch import run_batch
from wattbench.config import BatchConfig, EnergyConfig
from wattbench.data.models_csv import load_plan
from wattbench.energy.base import Measurement
from wattbench.energy.devices import as_devices, cuda_to_nvml, scope_rule, server_devices
from wattbench.energy.gpu_counter import COUNTER_PERIOD_S
from wattbench.energy.meters import make_meter
from wattbench.energy.rapl import RaplSource
from wattbench.energy.shares import of_window, per_query, split_j
from wattbench.errors import WattbenchError


def _tick(meter, clock: Clock, seconds: float, step: float = 0.1) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)
        meter.sampler.sample_once()


def test_windows_shorter_than_the_counter_step_are_estimated_never_a_silent_zero():
    clock = Clock()
    gpu = FakeGpu(0, "GPU-a", schedule=[(0.0, 200.0)], counter_period_s=COUNTER_PERIOD_S)
    meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=None, clock=clock)
    clock.advance(0.01)  # just after a counter step: a 60 ms window sees no step at all
    results = []
    for _ in range(5):
        with meter.window("short") as w:
            clock.advance(0.06)
        results.append(w.result)
        clock.advance(0.013)
    for result in results:
        assert result.energy_j["gpu:0"] == pytest.approx(200.0 * 0.06)  # not 0 J, not a whole 20 J step
        assert result.method["gpu:0"] == "nvml_power_estimate"
        assert any("shorter than the energy counter's update period" in m for m in result.warnings)
    with meter.window("long") as w:
        clock.advance(2.0)
    assert w.result.method["gpu:0"] == "nvml_counter" and not w.result.warnings
    assert w.result.energy_j["gpu:0"] == pytest.approx(400.0, abs=200.0 * COUNTER_PERIOD_S)


def test_a_stuck_counter_is_flagged_and_power_used_instead():
    clock = Clock()
    gpu = FakeGpu(0, "GPU-a", schedule=[(0.0, 150.0)], counter_stuck_from=1002.0)
    meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=10, clock=clock)
    clock.advance(3.0)
    meter.sampler.sample_once()
    with meter.window("w") as w:
        _tick(meter, clock, 4.0)
    assert w.result.energy_j["gpu:0"] == pytest.approx(600.0)
    assert w.result.method["gpu:0"] == "nvml_power_integrated"
    assert any("stuck counter" in m for m in w.result.warnings)


def test_the_cross_check_needs_a_long_window_and_flags_a_wrong_counter():
    clock = Clock()
    burst = [(0.0, 60.0), (1001.0, 400.0), (1002.2, 60.0)]  # a 1.2 s burst at 400 W
    exact = FakeGpu(0, "GPU-a", schedule=burst, instant_field=False, averaged_power_s=1.0)
    long_burst = FakeGpu(1, "GPU-b", schedule=[(0.0, 60.0), (1001.0, 400.0), (1010.0, 60.0)],
                         instant_field=False, averaged_power_s=1.0)  # fmt: skip
    scaled = FakeGpu(2, "GPU-c", schedule=[(0.0, 250.0)], counter_scale=1.3)
    nvml = make_module([exact, long_burst, scaled], clock)
    meter = make_meter("nvml", nvml=nvml, gpu_indices=[0, 1, 2], sampler_hz=10, clock=clock)
    meter.sampler.sample_once()
    with meter.window("short") as short:
        _tick(meter, clock, 2.5)
    with meter.window("long") as long:
        _tick(meter, clock, 10.0)
    assert not [m for m in short.result.warnings if "disagree" in m]  # 2.5 s: too short to check
    flagged = [m for m in long.result.warnings if "disagree" in m]
    # The exact counter over a 9 s burst read with the 1 s averaged power is not flagged; the 1.3x counter is.
    assert len(flagged) == 1 and flagged[0].startswith("gpu:2:") and "30%" in flagged[0]
    assert long.result.power_reading == {"gpu:0": "average", "gpu:1": "average", "gpu:2": "instant"}


def test_a_failed_read_makes_that_window_unknown_not_smaller():
    clock = Clock()
    gpu = FakeGpu(0, "GPU-a", schedule=[(0.0, 100.0)], fail_between=(1001.0, 1001.5))
    meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=10, clock=clock)
    meter.sampler.sample_once()
    with meter.window("broken") as broken:
        _tick(meter, clock, 3.0)
    with meter.window("after") as after:
        _tick(meter, clock, 2.0)
    assert "gpu:0" not in broken.result.energy_j
    assert (
        "NVML read failed" in broken.result.unavailable["gpu:0"] and "GPU is lost" in broken.result.unavailable["gpu:0"]
    )
    assert broken.result.total_j("gpu") is None  # unknown, never 0
    assert after.result.energy_j["gpu:0"] == pytest.approx(200.0)


def test_mig_instances_are_refused_with_the_reason(monkeypatch):
    clock = Clock()
    gpus = [FakeGpu(0, "GPU-a"), FakeGpu(1, "GPU-b", mig=True)]
    nvml = make_module(gpus, clock)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-aaaa-1111")
    auto = make_meter("auto", nvml=nvml, sampler_hz=None, powercap_root=Path("/nonexistent"))
    assert "NVML cannot measure a MIG slice" in auto.unavailable()["gpu"]
    with pytest.raises(WattbenchError, match="MIG instance"):
        make_meter("nvml", nvml=nvml, sampler_hz=None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(WattbenchError, match="GPU 1 is in MIG mode"):
        make_meter("nvml", nvml=nvml, sampler_hz=None)
    assert make_meter("nvml", nvml=nvml, gpu_indices=[0], sampler_hz=None).sources[0].scopes() == ["gpu:0"]


def test_rapl_permission_advice_never_suggests_world_readable_counters(tmp_path: Path, monkeypatch):
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("1000\n")
    real = Path.read_text

    def read_text(self: Path, *args, **kwargs) -> str:
        if self.name == "energy_uj":  # root-only on Linux >= 5.10, as on a real machine
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    why = RaplSource(tmp_path).unavailable()["cpu:package-0"]
    assert "CVE-2020-8694" in why and "CAP_DAC_READ_SEARCH" in why and "chmod" not in why


def test_shares_follow_output_tokens_and_add_up_exactly():
    shares = split_j(1000.0, [10, 10, 10, 400, 0])
    assert sum(shares) == 1000.0
    assert shares[:4] == pytest.approx([1000 * 10 / 430] * 3 + [1000 * 400 / 430])
    assert shares[4] == 0.0  # a prompt that failed before any token did no decoding
    assert split_j(9.0, [0, 0, 0]) == [3.0, 3.0, 3.0]
    figures = per_query(shares, [True, True, True, True, False], [10, 10, 10, 400, 0])
    assert figures.answered == 4 and figures.energy_j == pytest.approx(1000.0) and figures.failed_energy_j == 0.0
    assert figures.wh_per_1000_queries == pytest.approx(1000 * 1000 / 3600 / 4)
    assert figures.output_tokens_per_j == pytest.approx(430 / 1000)
    assert per_query([5.0, None], [True, True], [1, 1]).energy_j is None  # one unknown share: unknown total
    window = of_window(120.0, [30.0, 10.0, 0.0, 0.0], [True, False, True, True], [3, 1, 0, 0])
    assert window.energy_j == pytest.approx(90.0) and window.failed_energy_j == pytest.approx(30.0)
    assert of_window(120.0, [None, None], [True, False], [1, 1]).energy_j == pytest.approx(60.0)


def _models_csv(path: Path, model: str) -> Path:
    path.write_text(
        f",Models to Add,Priority (1=hi),Class,Task,Reasoning State,Chat Template\n0,{model},1,A,text_gen,Off (N/A),\n",
        encoding="utf-8",
    )
    return path


def test_a_batch_rows_prompts_share_its_energy_by_output_tokens(tmp_path: Path):
    model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    server = TokenServer(model)
    clock = WallClock()
    nvml = make_module([FakeGpu(0, "GPU-a", schedule=[(0.0, 300.0)])], clock)
    meter = make_meter("nvml", nvml=nvml, gpu_indices=[0], sampler_hz=None, clock=clock)
    energy = EnergyConfig(meter="nvml", idle_seconds=0)
    # The server runs on this machine, on GPU 0, which --gpus names.
    config = BatchConfig(backend="openai", endpoint=server.url, batch_size=5, warmup_prompts=0, max_attempts=1,
                         gpus=[0], output_dir=str(tmp_path / "out"), energy=energy)  # fmt: skip
    prompts = ["say 10", "say 10", "say 10", "say 400", "please fail"]
    try:
        plan = load_plan(_models_csv(tmp_path / "m.csv", model), 512, 16)  # room for 400 tokens
        outcome = run_batch(config, plan, prompts, meter=meter)
    finally:
        server.close()
    row = outcome.rows[0]
    records = [
        json.loads(line) for line in next(Path(config.output_dir).rglob("prompts.jsonl")).read_text().splitlines()
    ]
    by_prompt = {r["prompt_index"]: r for r in records}
    shares = [by_prompt[i]["gpu_energy_j"] for i in range(5)]
    assert by_prompt[4]["status"] == "error" and shares[4] == 0.0
    assert shares[3] == pytest.approx(40 * shares[0]) and shares[1] == pytest.approx(shares[0])
    # The measured window holds the one generate call (whose shares add up exactly) and the writes around it.
    assert 0.8 * row.gpu_energy_wh * 3600 < sum(shares) <= row.gpu_energy_wh * 3600
    # The failed prompt generated nothing: the whole window is the four answers' energy.
    assert row.wh_per_1000_queries == pytest.approx(1000 * row.gpu_energy_wh / 4)
    assert row.tokens_per_joule == pytest.approx(430 / (row.gpu_energy_wh * 3600))


def test_prompts_cut_off_after_their_tokens_are_charged_their_share(tmp_path: Path):
    """Six streams at once, two cut off by the server after all their tokens. Before, a failed prompt weighed 0
    tokens: the answered prompts were charged its energy (48.8 against 32.6 Wh per 1,000 queries) and the failed
    energy read 0."""
    from fakes.servers import StreamingServer

    model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    server = StreamingServer(ttft_s=0.05, itl_s=0.02, tokens=10)
    clock = WallClock()
    meter = make_meter("nvml", nvml=make_module([FakeGpu(0, "GPU-a", schedule=[(0.0, 300.0)])], clock),
                       gpu_indices=[0], sampler_hz=None, clock=clock)  # fmt: skip
    config = BatchConfig(backend="openai", endpoint=server.url, batch_size=6, warmup_prompts=0, max_attempts=1,
                         gpus=[0], output_dir=str(tmp_path / "out"), energy=EnergyConfig(meter="nvml", idle_seconds=0),
                         max_new_tokens=10)  # fmt: skip
    prompts = ["one", "two [cut]", "three", "four", "five [cut]", "six"]
    try:
        outcome = run_batch(config, load_plan(_models_csv(tmp_path / "m.csv", model), 10, 16), prompts, meter=meter)
    finally:
        server.close()
    row = outcome.rows[0]
    lines = next(Path(config.output_dir).rglob("prompts.jsonl")).read_text().splitlines()
    by_prompt = {r["prompt_index"]: r for r in map(json.loads, lines)}
    cut = [by_prompt[1], by_prompt[4]]
    assert all(r["status"] == "error" and r["failed_output_tokens"] == 10 for r in cut)
    shares = [by_prompt[i]["gpu_energy_j"] for i in range(6)]
    # Six streams of ten tokens side by side: each in flight as long as the others, so about equal shares.
    assert all(r["energy_share"] == "in_flight" for r in by_prompt.values())
    assert all(share == pytest.approx(shares[0], rel=0.15) for share in shares)
    assert sum(shares) == pytest.approx(row.gpu_energy_wh * 3600, rel=0.2)  # the call within the row's window
    total_wh = row.gpu_energy_wh
    assert row.successful_prompts == 4
    assert row.avg_energy_per_prompt_wh == pytest.approx(total_wh / 6, rel=0.1)  # not total / 4
    assert row.failed_gpu_energy_wh == pytest.approx(total_wh * 2 / 6, rel=0.15)


def test_a_gpu_without_a_counter_in_a_batch_row_is_sampled_within_two_percent(tmp_path: Path):
    """A server on this machine (GPU 0) answers slowly while the GPU's power steps between 80 W and 400 W in real
    time; the row's sampler (100 Hz) integrates it. Without the sampler, two edge readings would miss every step."""
    model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    server = TokenServer(model, delay_s=0.25)
    clock = WallClock()
    start = clock.now
    steps = [(0.0, 80.0)] + [(start + 0.3 * k, 400.0 if k % 2 else 80.0) for k in range(1, 400)]
    gpu = FakeGpu(0, "GPU-a", schedule=steps, has_counter=False)
    nvml = make_module([gpu], clock)
    meter = make_meter("nvml", nvml=nvml, gpu_indices=[0], sampler_hz=100, clock=clock)
    energy = EnergyConfig(meter="nvml", idle_seconds=0, sampler_hz=100)
    config = BatchConfig(backend="openai", endpoint=server.url, warmup_prompts=0, gpus=[0],
                         output_dir=str(tmp_path / "out"), energy=energy)  # fmt: skip
    try:
        outcome = run_batch(config, load_plan(_models_csv(tmp_path / "m.csv", model), 8, 16),
                            [f"say {n}" for n in (5, 7, 9, 11, 13, 15, 17)], meter=meter)  # fmt: skip
    finally:
        server.close()
    row = outcome.rows[0]
    assert row.status == "completed" and row.energy_method == "nvml_power_sampling"
    window = json.loads(next(Path(config.output_dir).rglob("summary.json")).read_text())["energy"]
    t0, t1 = clock.edges_of(window["duration_s"])
    assert t1 - t0 > 1.5  # long enough to hold several power steps
    assert window["energy_j"]["gpu:0"] == pytest.approx(gpu.energy_j(t0, t1), rel=0.02)
    assert window["power_reading"] == {"gpu:0": "instant"}
    assert next(Path(config.output_dir).rglob("power.csv")).read_text().count("gpu:0") > 50


UUIDS = ["GPU-aaaaaaaa-0000", "GPU-bbbbbbbb-0000", "GPU-cccccccc-0000"]


def test_only_the_engines_gpu_of_three_is_the_rows_energy(tmp_path: Path):
    """Three GPUs, GPU 0 busy at 300 W and two idle at 60 W; the server runs on GPU 0 (named with gpus)."""
    model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    server = TokenServer(model, delay_s=0.05)
    clock = WallClock()
    gpus = [FakeGpu(0, UUIDS[0], schedule=[(0.0, 300.0)]), FakeGpu(1, UUIDS[1], schedule=[(0.0, 60.0)]),
            FakeGpu(2, UUIDS[2], schedule=[(0.0, 60.0)])]  # fmt: skip
    meter = make_meter("nvml", nvml=make_module(gpus, clock), sampler_hz=None, clock=clock)  # all three visible
    config = BatchConfig(backend="openai", endpoint=server.url, warmup_prompts=0, gpus=[0], output_dir=str(tmp_path),
                         energy=EnergyConfig(meter="nvml", idle_seconds=0))  # fmt: skip
    try:
        row = run_batch(config, load_plan(_models_csv(tmp_path / "m.csv", model), 8, 16), ["say 4"], meter=meter).rows[
            0
        ]
    finally:
        server.close()
    window = json.loads(next(tmp_path.rglob("summary.json")).read_text())["energy"]
    assert set(window["energy_j"]) == {"gpu:0"}
    assert row.gpu_energy_wh * 3600 == pytest.approx(300.0 * window["duration_s"], rel=1e-3)


def test_a_remote_endpoint_has_no_energy_here_and_says_why():
    remote = server_devices("http://10.255.255.1:8000/v1", None)
    unnamed = server_devices("http://127.0.0.1:8000/v1", None)
    named = server_devices("http://localhost:8000/v1", [1])
    assert not remote.local and unnamed.local and named.gpus == (1,)
    measured = Measurement("w", 2.0, energy_j={"gpu:0": 500.0, "gpu:1": 300.0, "cpu:package-0": 90.0})
    far = measured.only(*scope_rule(remote))
    assert far.energy_j == {} and far.unavailable["gpu"].startswith("remote server")
    assert far.unavailable["cpu"].startswith("remote server")
    here = measured.only(*scope_rule(unnamed))
    assert here.energy_j == {"cpu:package-0": 90.0} and "name the server's GPUs with --gpus" in here.unavailable["gpu"]
    assert measured.only(*scope_rule(named)).energy_j == {"gpu:1": 300.0, "cpu:package-0": 90.0}


def test_cuda_devices_are_matched_to_nvml_by_uuid(monkeypatch):
    nvml = make_module([FakeGpu(i, UUIDS[i]) for i in range(3)], Clock())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    # torch's cuda:0 is the first visible GPU, NVML's GPU 2; its UUID says so even when the order is unknown.
    assert cuda_to_nvml([0], nvml, uuids={0: UUIDS[2].removeprefix("GPU-")}) == [2]
    assert cuda_to_nvml([1], nvml) == [0]  # no UUID from torch: by position among the visible GPUs
    assert as_devices(["cuda:0"]).labels == ("cuda:0",) and as_devices(["remote"]).local is False


def test_the_default_cpu_run_reports_no_gpu_energy_or_vram(wattbot: Path, tmp_path: Path, monkeypatch):
    """The default llama.cpp run on a machine with three idle 60 W GPUs: none of it is the run's."""
    from fakes.workspace import make_workspace
    from wattbench.runs.checks import load_run_config
    from wattbench.runs.wattbot import run_experiment

    root = make_workspace(wattbot, tmp_path)
    clock = WallClock()
    nvml = make_module([FakeGpu(i, UUIDS[i], schedule=[(0.0, 60.0)]) for i in range(3)], clock)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    meter = make_meter("nvml", nvml=nvml, sampler_hz=10, clock=clock)
    config, _ = load_run_config(root / "run.toml", {"limit": 1})
    summary = run_experiment(config, data_dir=root / "data", meter=meter).summary
    assert summary["num_answered"] == 1
    assert summary["resources"]["gpu_energy_wh"] is None and summary["resources"]["gpu_vram_allocated_gb"] is None
    assert summary["hardware"]["gpu_energy_wh"] == 0 == summary["hardware"]["gpu_vram_allocated_gb"]  # the seed's view
    assert summary["backend"]["measured_devices"]["gpus"] == []
    for phase in summary["energy"]["phases"].values():
        assert not [s for s in (phase or {}).get("energy_j", {}) if s.startswith("gpu")]


def test_a_run_warms_up_then_takes_its_idle_baseline_with_the_model_loaded(wattbot: Path, tmp_path: Path):
    from fakes.workspace import make_workspace
    from wattbench.runs.checks import load_run_config
    from wattbench.runs.wattbot import run_experiment

    root = make_workspace(wattbot, tmp_path)
    powercap = tmp_path / "powercap" / "intel-rapl:0"  # the CPU package the llama.cpp engine runs on
    powercap.mkdir(parents=True)
    (powercap / "name").write_text("package-0\n")
    (powercap / "energy_uj").write_text("123456\n")
    clock = WallClock()
    gpus = [FakeGpu(0, UUIDS[0], schedule=[(0.0, 60.0)])]
    meter = make_meter("auto", nvml=make_module(gpus, clock), sampler_hz=20, clock=clock,
                       powercap_root=powercap.parent)  # fmt: skip
    config, _ = load_run_config(root / "run.toml", {"limit": 2, "energy.idle_seconds": 0.3})
    result = run_experiment(config, data_dir=root / "data", meter=meter)
    session = result.summary["sessions"][-1]
    assert list(session["energy"]) == ["index_load", "model_load", "idle"]  # the baseline after the load
    assert session["warmup_s"] > 0 and result.summary["num_questions"] == 2
    log = (result.run_dir / "run.log").read_text()
    assert "warm-up: 1 question(s)" in log and log.index("warm-up") < log.index("q153")
    records = [json.loads(line) for line in (result.run_dir / "results.jsonl").read_text().splitlines()]
    assert len(records) == 2 and records[0]["id"] == "q153"  # the warm-up answer is not recorded


def _question_records(with_rapl: bool) -> list[dict]:
    records = []
    for i, (gpu_j, tokens) in enumerate([(120.0, 40), (300.0, 100), (90.0, 30)]):
        energy = {"gpu:0": gpu_j, **({"cpu:package-0": 25.0, "dram:0": 4.0} if with_rapl else {})}
        window = Measurement("question", 2.0, energy_j=energy,
                             unavailable={} if with_rapl else {"cpu": "no RAPL zones"})  # fmt: skip
        records.append({"id": f"q{i}", "latency_s": 2.0, "retrieval_s": 0.1, "generation_s": 1.9,
                        "prompt_tokens": 500, "completion_tokens": tokens, "error": None,
                        "energy": window.to_dict()})  # fmt: skip
    return records


def test_one_scope_at_a_time_gpu_figures_do_not_depend_on_rapl(wattbot: Path):
    from wattbench.config import ExperimentConfig
    from wattbench.data.wattbot import load_questions
    from wattbench.runs.outputs import build_summary

    questions = load_questions(wattbot / "train_QA.csv")[:3]
    devices = {"gpus": [0], "local": True, "gpu_unknown": None, "labels": ["cuda:0"]}
    summaries = {}
    for with_rapl in (True, False):
        session = {"wall_s": 7.0, "energy": {}}
        summaries[with_rapl] = build_summary(ExperimentConfig(), questions, _question_records(with_rapl), [session],
                                             None, {"measured_devices": devices}, {})  # fmt: skip
    rapl, bare = summaries[True]["energy"], summaries[False]["energy"]
    assert rapl["scope"] == bare["scope"] == "gpu"
    assert rapl["questions"] == bare["questions"]  # identical GPU figures, with or without RAPL
    assert bare["questions"]["j_per_output_token"] == pytest.approx(510.0 / 170)
    assert rapl["questions_by_scope"]["cpu"]["energy_j"] == pytest.approx(75.0)  # beside, never added in
    assert bare["questions_by_scope"]["cpu"]["energy_j"] is None  # unknown, never 0
    assert rapl["total_j"] == pytest.approx(510.0 + 75.0 + 12.0)
    assert bare["total_j"] is None and "cpu energy not measured" in bare["total_unavailable"]
    assert summaries[True]["hardware"]["gpu_energy_wh"] == pytest.approx(510.0 / 3600)


def test_runs_are_compared_on_one_scope_and_the_others_listed(wattbot: Path, tmp_path: Path):
    from fakes.store import write_run
    from wattbench.report.plots.runs import plot_energy, plot_pareto
    from wattbench.report.runs import common_energy_scope, load_run

    solution = wattbot / "train_QA.csv"
    write_run(tmp_path, "gpu-a", solution, correct=20, gpu_wh_per_question=0.15)
    write_run(tmp_path, "gpu-b", solution, correct=25, gpu_wh_per_question=0.30)
    write_run(tmp_path, "cpu-only", solution, correct=10, provider="llamacpp", gpu_wh_per_question=0.01,
              energy_scope="cpu")  # fmt: skip
    runs = [load_run(tmp_path / name) for name in ("gpu-a", "gpu-b", "cpu-only")]
    scope, kept, left = common_energy_scope(runs)
    assert scope == "gpu" and [r.name for r in kept] == ["gpu-a", "gpu-b"] and [r.name for r in left] == ["cpu-only"]
    for plot in (plot_energy(runs, tmp_path / "plots"), plot_pareto(runs, tmp_path / "plots")):
        assert plot.note.startswith("compared on gpu energy only; not drawn (no gpu energy measured): cpu-only")
        assert all(path.exists() for path in plot.files)


def test_another_process_on_the_gpu_is_said_in_the_window_the_row_and_the_summary(tmp_path: Path):
    """A second process (pid 1, never this run's) holds the GPU for part of a batch row. Before, the row's energy
    was called its own, silently; now it is kept as measured and flagged, with the process named."""
    model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    server = TokenServer(model, delay_s=0.1)
    clock = WallClock()
    start = clock.now
    other = FakeGpu(0, "GPU-a", schedule=[(0.0, 300.0)], processes=[(start + 0.4, start + 0.8, 1, 3 * 2**30)])
    meter = make_meter("nvml", nvml=make_module([other], clock), gpu_indices=[0], sampler_hz=50, clock=clock)
    energy = EnergyConfig(meter="nvml", idle_seconds=0)
    config = BatchConfig(backend="openai", endpoint=server.url, warmup_prompts=0, gpus=[0], max_attempts=1,
                         output_dir=str(tmp_path / "out"), energy=energy)  # fmt: skip
    try:
        row = run_batch(config, load_plan(_models_csv(tmp_path / "m.csv", model), 8, 16),
                        ["say 4"] * 10, meter=meter).rows[0]  # fmt: skip
    finally:
        server.close()
    assert row.status == "completed" and row.shared_gpu is True
    summary = json.loads(next(Path(config.output_dir).rglob("summary.json")).read_text())
    (process,) = summary["energy"]["shared_gpu"]
    assert process["pid"] == 1 and process["scope"] == "gpu:0" and process["used_memory_mib"] == 3072.0
    assert process["name"]  # /proc/1/comm
    assert any("shared with another process (pid 1" in w for w in summary["energy_warnings"])
    records = [
        json.loads(line) for line in next(Path(config.output_dir).rglob("prompts.jsonl")).read_text().splitlines()
    ]
    flagged = [r for r in records if any("shared with another process" in w for w in r["energy_warnings"])]
    assert 0 < len(flagged) < len(records)  # the calls while it ran, not the others
    # A row alone on its GPU says so: False, not unknown.
    alone = FakeGpu(0, "GPU-b", schedule=[(0.0, 300.0)])
    meter = make_meter("nvml", nvml=make_module([alone], clock), gpu_indices=[0], sampler_hz=None, clock=clock)
    server = TokenServer(model)
    config = config.model_copy(update={"endpoint": server.url, "output_dir": str(tmp_path / "alone")})
    try:
        row = run_batch(config, load_plan(_models_csv(tmp_path / "m.csv", model), 8, 16), ["say 4"], meter=meter).rows[
            0
        ]
    finally:
        server.close()
    assert row.shared_gpu is False


def test_the_run_s_own_processes_are_not_another_user(monkeypatch):
    """This process and its children are the run's; so is a server on this machine found by its port."""
    import os
    import subprocess
    import sys

    from wattbench.energy.gpu_processes import ProcessWatch, listening_pids, tree

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in tree({os.getpid()})
        gpu = FakeGpu(0, "GPU-a", processes=[(0.0, 1e12, child.pid, 2**30), (0.0, 1e12, os.getpid(), 2**30)])
        clock = WallClock()
        watch = ProcessWatch(make_module([gpu], clock), {"gpu:0": gpu}, clock=clock)
        watch.check(force=True)
        assert watch.between(0, watch.checks) == []
    finally:
        child.kill()
    server = TokenServer("m")
    try:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        assert os.getpid() in listening_pids(port)  # the fake server listens in this process
    finally:
        server.close()


def test_a_wattbot_run_names_another_process_on_its_gpu_and_audit_flags_it(wattbot: Path, tmp_path: Path):
    from fakes.servers import OK_BODY, ScriptedServer
    from fakes.workspace import make_workspace
    from wattbench.report.audit import audit_runs
    from wattbench.report.runs import load_runs
    from wattbench.runs.checks import load_run_config
    from wattbench.runs.wattbot import run_experiment

    root = make_workspace(wattbot, tmp_path)
    server = ScriptedServer([], default=(200, json.dumps(OK_BODY), {}, 0.05))
    clock = WallClock()
    gpu = FakeGpu(0, UUIDS[0], schedule=[(0.0, 200.0)], processes=[(0.0, 1e12, 1, 2**30)])
    meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=None, clock=clock)
    overrides = {"provider": "openai", "model": "served", "generation.base_url": server.url, "generation.gpus": [0]}
    try:
        config, _ = load_run_config(root / "run.toml", overrides)
        result = run_experiment(config, data_dir=root / "data", meter=meter)
    finally:
        server.close()
    (process,) = result.summary["energy"]["shared_gpu"]
    assert process["pid"] == 1 and process["used_memory_mib"] == 1024.0
    assert any("shared with another process (pid 1" in w for w in result.summary["energy"]["warnings"])
    runs, _ = load_runs(root / "runs")
    (audit,) = audit_runs(runs, root / "data" / "wattbot" / "train_QA.csv")
    assert "shared_gpu" in [f.code for f in audit.flags]
