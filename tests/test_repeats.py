"""Repeated measured passes: the spread of each figure across passes, and repeating until the energy figure is
tight. The GPU is the fake NVML module whose energy counter advances by a scripted amount as each request is
answered (the hardware's double), so each pass's energy per prompt is known exactly."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fakes.fake_pynvml import FakeGpu, WallClock, make_module
from fakes.servers import TokenServer
from wattbench.campaigns.batch import run_batch
from wattbench.config import BatchConfig, EnergyConfig
from wattbench.data.models_csv import load_plan
from wattbench.energy.meters import make_meter
from wattbench.runs.textgen import StopRequest
from wattbench.stats.repeats import ONE_PASS, converged, spread, t_quantile

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
PROMPTS = ["say 4", "say 4", "say 4"]


def test_t_quantiles_and_spread_against_tables_and_hand_computed_values():
    # Student t table, two-sided 95%: df 1, 2, 4, 9, 29.
    for df, table in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452)):
        assert t_quantile(0.975, df) == pytest.approx(table, abs=1e-4)
    found = spread([1.0, 1.2, 0.9, 1.1])
    sd = math.sqrt(((0.05**2) * 2 + 0.15**2 + 0.15**2) / 3)
    assert found.mean == pytest.approx(1.05) and found.sd == pytest.approx(sd) and found.cv == pytest.approx(sd / 1.05)
    half = 3.1824463 * sd / 2  # t(0.975, 3) x sd / sqrt(4)
    assert found.ci95 == pytest.approx((1.05 - half, 1.05 + half))
    one = spread([2.0])
    assert one.ci95 is None and one.note == ONE_PASS and one.mean == 2.0
    assert spread([None, None]).n == 0 and spread([1.0, None, 3.0]).n == 2
    assert not converged([1.0], 0.5) and converged([1.0, 1.0001, 0.9999], 0.01)


@dataclass
class JoulesPerAnswer(FakeGpu):
    """A GPU whose energy counter advances by the next scripted amount as each answer is computed."""

    script: list[float] = field(default_factory=list)
    spent_j: float = 0.0

    def answer(self) -> None:
        self.spent_j += self.script.pop(0)

    def counter_mj(self, t: float) -> int:
        return self.counter_offset_mj + int(round(self.spent_j * 1000))

    def power_w(self, t: float) -> float:
        return 0.0  # no sampler here: the counter alone is read


class Rig:
    """One server for several batch sessions (a rerun goes to the same endpoint); each session's answers go to
    the hook it sets."""

    def __init__(self) -> None:
        self.hook: Callable[[], None] = lambda: None
        # Each answer takes 0.15 s, longer than the counter's update period, so its window reads the counter.
        self.server = TokenServer(MODEL, delay_s=0.15, on_answer=lambda: self.hook())


@pytest.fixture
def rig() -> Iterator[Rig]:
    made = Rig()
    yield made
    made.server.close()


def _run(
    tmp_path: Path, per_pass_j: list[float], stop_after: int | None = None, force: bool = False,
    rig: Rig | None = None, fail_at: int | None = None, **settings,
) -> tuple[dict, dict]:  # fmt: skip
    """One batch row on a scripted GPU (J per prompt in each pass); `stop_after` answers asks it to stop (as a
    first Ctrl-C does): the row finishes that prompt and is recorded as interrupted; answer number `fail_at`
    fails (the server dies)."""
    gpu = JoulesPerAnswer(0, "GPU-a", script=[j for value in per_pass_j for j in [value] * len(PROMPTS)])
    stop = StopRequest()

    def answer() -> None:
        gpu.answer()
        if fail_at is not None and len(gpu.script) == len(per_pass_j) * len(PROMPTS) - fail_at:
            raise ConnectionError("the server dies")
        if stop_after is not None and len(gpu.script) == len(per_pass_j) * len(PROMPTS) - stop_after:
            stop.requested = True

    own = rig is None
    rig = rig or Rig()
    rig.hook, server = answer, rig.server
    clock = WallClock()
    meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=None, clock=clock)
    config = BatchConfig(backend="openai", endpoint=server.url, warmup_prompts=0, max_attempts=1, gpus=[0],
                         output_dir=str(tmp_path / "out"), energy=EnergyConfig(meter="nvml", idle_seconds=0),
                         **settings)  # fmt: skip
    tmp_path.mkdir(parents=True, exist_ok=True)
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(f",Models to Add,Priority (1=hi),Class,Task,Reasoning State,Chat Template\n0,{MODEL},1,A,"
                        "text_gen,Off (N/A),\n", encoding="utf-8")  # fmt: skip
    try:
        outcome = run_batch(config, load_plan(csv_path, 8, 16), PROMPTS, meter=meter, stop=stop, force=force)
    finally:
        if own:
            server.close()
    summary = json.loads(next(Path(config.output_dir).rglob("summary.json")).read_text())
    return outcome.rows[0].model_dump(), summary


def test_each_pass_is_kept_and_the_spread_is_that_of_the_scripted_values(tmp_path: Path):
    per_pass = [10.0, 12.0, 11.0, 13.0]  # J per prompt in each pass
    row, summary = _run(tmp_path, per_pass, repeats=4)
    repeats = summary["repeats"]
    assert repeats["passes"] == 4 and repeats["stop"] == "repeats"
    seen = [p["energy_per_prompt_wh"] * 3600 for p in repeats["per_repeat"]]
    assert seen == pytest.approx(per_pass)
    mean_wh, sd_wh = statistics.fmean(per_pass) / 3600, statistics.stdev(per_pass) / 3600
    half = t_quantile(0.975, 3) * sd_wh / 2
    assert row["repeat_energy_per_prompt_wh_mean"] == pytest.approx(mean_wh)
    assert row["repeat_energy_per_prompt_wh_sd"] == pytest.approx(sd_wh)
    assert row["repeat_energy_per_prompt_wh_cv"] == pytest.approx(sd_wh / mean_wh)
    assert row["repeat_energy_per_prompt_wh_ci95_low"] == pytest.approx(mean_wh - half)
    assert row["repeat_energy_per_prompt_wh_ci95_high"] == pytest.approx(mean_wh + half)
    # 4 output tokens per prompt: J per output token is a quarter of J per prompt, pass by pass.
    assert [p["j_per_output_token"] for p in repeats["per_repeat"]] == pytest.approx([v / 4 for v in per_pass])
    assert row["repeats_measured"] == 4 and row["total_prompts"] == 12 and row["successful_prompts"] == 12
    assert all(p["output_tokens_per_s"] > 0 and p["latency_p50_s"] >= 0.15 for p in repeats["per_repeat"])


def test_one_pass_says_it_has_no_interval(tmp_path: Path):
    row, summary = _run(tmp_path, [10.0])
    assert (
        summary["repeats"]["note"] == ONE_PASS
        and summary["repeats"]["spread"]["energy_per_prompt_wh"]["note"] == ONE_PASS
    )
    assert row["repeat_energy_per_prompt_wh_mean"] == pytest.approx(10.0 / 3600)
    assert row["repeat_energy_per_prompt_wh_ci95_low"] is None and row["repeat_energy_per_prompt_wh_sd"] is None


def _prompt_lines(tmp_path: Path) -> list[dict]:
    path = next((tmp_path / "out").rglob("prompts.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_rerun_row_keeps_the_passes_it_finished_and_runs_the_rest(tmp_path: Path, rig: Rig):
    # Stopped after 5 answers: pass 0 finished (3 prompts at 10 J), pass 1 stopped after 2 of its prompts.
    row, first = _run(tmp_path, [10.0, 50.0, 50.0], stop_after=5, repeats=3, rig=rig)
    assert row["status"] == "interrupted" and first["repeats"]["passes"] == 2
    kept = [r for r in _prompt_lines(tmp_path) if r["repeat"] == 0]
    # The rerun's GPU spends 12 J then 11 J a prompt: passes 1 and 2 are measured again, pass 0 is not.
    row, summary = _run(tmp_path, [12.0, 11.0], repeats=3, rig=rig)
    assert row["status"] == "completed" and row["successful_prompts"] == 9 and row["total_prompts"] == 9
    repeats = summary["repeats"]
    assert repeats["passes"] == 3 and repeats["stop"] == "repeats"
    assert [p["energy_per_prompt_wh"] * 3600 for p in repeats["per_repeat"]] == pytest.approx([10.0, 12.0, 11.0])
    assert repeats["per_repeat"][0] == first["repeats"]["per_repeat"][0]  # the kept pass, as it was measured
    lines = _prompt_lines(tmp_path)
    assert [r["repeat"] for r in lines] == [0, 0, 0, 1, 1, 1, 2, 2, 2] and lines[:3] == kept
    # The row's energy is its passes' windows: the stopped pass's 100 J measured before the rerun is not in it.
    assert row["gpu_energy_wh"] * 3600 == pytest.approx(99.0, abs=0.01)
    assert summary["energy"]["sessions"] == 2 and summary["run_id"] == first["run_id"]
    assert row["repeat_energy_per_prompt_wh_mean"] == pytest.approx(11.0 / 3600)
    assert any("keeping the 1 measured passes" in p.read_text() for p in (tmp_path / "out" / "logs").glob("*.log"))


def test_a_rerun_row_starts_again_when_what_a_pass_measures_changed_or_with_force(tmp_path: Path, rig: Rig):
    _run(tmp_path, [10.0, 50.0], stop_after=4, repeats=2, rig=rig)
    # Other output lengths: the kept pass would measure something else; everything runs again.
    row, summary = _run(tmp_path, [12.0, 11.0], repeats=2, max_new_tokens=3, rig=rig)
    assert summary["repeats"]["passes"] == 2 and summary["energy"]["sessions"] == 1
    assert [p["energy_per_prompt_wh"] * 3600 for p in summary["repeats"]["per_repeat"]] == pytest.approx([12.0, 11.0])
    assert len(_prompt_lines(tmp_path)) == 6
    _run(tmp_path / "f", [10.0, 50.0], stop_after=4, repeats=2, rig=rig)
    row, summary = _run(tmp_path / "f", [12.0, 11.0], repeats=2, force=True, rig=rig)
    assert summary["energy"]["sessions"] == 1 and row["gpu_energy_wh"] * 3600 == pytest.approx(69.0, abs=0.01)
    # A row that failed on the last prompt of its second pass (a dead server): that pass is not kept.
    row, _ = _run(tmp_path / "d", [10.0, 50.0], fail_at=6, repeats=2, max_consecutive_failures=1, rig=rig)
    assert row["status"] == "failed" and len(_prompt_lines(tmp_path / "d")) == 6
    row, summary = _run(tmp_path / "d", [12.0], repeats=2, rig=rig)
    assert row["status"] == "completed" and summary["energy"]["sessions"] == 2
    assert [p["energy_per_prompt_wh"] * 3600 for p in summary["repeats"]["per_repeat"]] == pytest.approx([10.0, 12.0])
    # More passes asked on the rerun: the finished one is kept, two more are run.
    _run(tmp_path / "m", [10.0, 50.0], stop_after=4, repeats=2, rig=rig)
    row, summary = _run(tmp_path / "m", [12.0, 11.0], repeats=3, rig=rig)
    assert [p["energy_per_prompt_wh"] * 3600 for p in summary["repeats"]["per_repeat"]] == pytest.approx(
        [10.0, 12.0, 11.0]
    )


def test_on_ray_the_finished_passes_go_to_the_node_with_the_row_s_job(tmp_path: Path, rig: Rig):
    from wattbench.campaigns.batch_parallel import _earlier_run
    from wattbench.executors.ray import write_tree
    from wattbench.store.batch_dir import BatchDir

    _run(tmp_path, [10.0, 50.0], stop_after=4, repeats=2, rig=rig)
    spec = load_plan(tmp_path / "m.csv", 8, 16)[0]
    files = _earlier_run(BatchDir(tmp_path / "out"), spec, fresh=False)
    assert sorted(Path(name).name for name in files) == ["prompts.jsonl", "summary.json"]
    assert _earlier_run(BatchDir(tmp_path / "out"), spec, fresh=True) == {}
    write_tree(files, tmp_path / "node")  # where the Ray task places them: the node's scratch folder
    row, summary = _run(tmp_path / "node", [12.0], repeats=2, rig=rig)
    assert summary["energy"]["sessions"] == 2 and row["successful_prompts"] == 6
    assert [p["energy_per_prompt_wh"] * 3600 for p in summary["repeats"]["per_repeat"]] == pytest.approx([10.0, 12.0])


def _first_tight(values: list[float], relative: float, first: int) -> int | None:
    """Independently of wattbench: the first pass count (from `first`) whose 95% t half-width is within
    `relative` of the mean, by scipy's t quantile."""
    from scipy import stats

    for n in range(max(first, 2), len(values) + 1):
        head = values[:n]
        half = stats.t.ppf(0.975, n - 1) * statistics.stdev(head) / math.sqrt(n)
        if half <= relative * statistics.fmean(head):
            return n
    return None


def test_repeat_until_stops_at_the_pass_the_scripted_noise_allows_or_gives_up(tmp_path: Path):
    noisy_then_steady = [10.0, 11.0, 10.4, 10.6, 10.5, 10.5, 10.6, 10.4]
    expected = _first_tight(noisy_then_steady, 0.03, first=2)
    assert expected is not None and 3 < expected < len(noisy_then_steady)
    row, summary = _run(tmp_path / "a", noisy_then_steady, repeats=2, repeat_until=0.03, max_repeats=8)
    assert summary["repeats"]["stop"] == "reached" and row["repeats_measured"] == expected
    assert _first_tight(noisy_then_steady, 0.001, first=2) is None
    row, summary = _run(tmp_path / "b", noisy_then_steady[:5], repeats=2, repeat_until=0.001, max_repeats=5)
    assert summary["repeats"]["stop"] == "gave up at 5" and row["repeats_measured"] == 5
    assert row["repeat_stop"] == "gave up at 5"


def test_a_wattbot_run_repeats_its_measured_passes_and_a_resume_keeps_them(wattbot: Path, tmp_path: Path):
    import json as _json

    from fakes.servers import OK_BODY, ScriptedServer
    from fakes.workspace import QUESTION_IDS, make_workspace
    from wattbench.runs.checks import load_run_config
    from wattbench.runs.wattbot import run_experiment

    root = make_workspace(wattbot, tmp_path)
    n = len(QUESTION_IDS)
    per_pass = [20.0, 26.0, 23.0]  # J per question in each pass; the warm-up question's energy first
    gpu = JoulesPerAnswer(0, "GPU-a", script=[5.0] + [j for value in per_pass for j in [value] * n])
    server = ScriptedServer([], default=(200, _json.dumps(OK_BODY), {}, 0.15), on_answer=gpu.answer)
    overrides = {"provider": "openai", "model": "served", "generation.base_url": server.url,
                 "generation.gpus": [0], "task.repeats": 3}  # fmt: skip
    try:
        config, _ = load_run_config(root / "run.toml", overrides)
        clock = WallClock()
        meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=None, clock=clock)
        result = run_experiment(config, data_dir=root / "data", meter=meter)
    finally:
        server.close()
    repeats = result.summary["repeats"]
    assert repeats["passes"] == 3 and repeats["stop"] == "repeats" and repeats["per_repeat"][0]["scope"] == "gpu"
    seen = [p["energy_per_question_wh"] * 3600 for p in repeats["per_repeat"]]
    assert seen == pytest.approx(per_pass)
    energy = repeats["spread"]["energy_per_question_wh"]
    assert energy["mean"] == pytest.approx(statistics.fmean(per_pass) / 3600)
    assert energy["sd"] == pytest.approx(statistics.stdev(per_pass) / 3600)
    half = t_quantile(0.975, 2) * statistics.stdev(per_pass) / 3600 / math.sqrt(3)
    assert energy["ci95"] == pytest.approx([energy["mean"] - half, energy["mean"] + half])
    assert repeats["spread"]["score"]["sd"] == 0.0  # the same answers each pass: accuracy does not vary
    lines = [_json.loads(line) for line in (result.run_dir / "results.jsonl").read_text().splitlines()]
    assert sorted(r["repeat"] for r in lines) == [0] * n + [1] * n + [2] * n
    # The run's own figures are its first pass: the question energy of the summary is that pass's.
    assert result.summary["energy"]["questions"]["energy_j"] == pytest.approx(per_pass[0] * n)
    # A rerun finds every pass done: nothing is asked again.
    asked = len(server.seen)
    config, _ = load_run_config(root / "run.toml", overrides)
    again = run_experiment(config, data_dir=root / "data", meter=make_meter("none"))
    assert len(server.seen) == asked and again.summary["repeats"]["passes"] == 3


def test_a_run_stopped_inside_a_further_pass_finishes_that_pass_on_resume(wattbot: Path, tmp_path: Path):
    import json as _json

    from fakes.servers import OK_BODY, ScriptedServer
    from fakes.workspace import QUESTION_IDS, make_workspace
    from wattbench.runs.checks import load_run_config
    from wattbench.runs.wattbot import run_experiment

    root = make_workspace(wattbot, tmp_path)
    n = len(QUESTION_IDS)
    overrides = {"provider": "openai", "model": "served", "task.repeats": 2, "task.warmup_questions": 0}

    def run_once(answers: int) -> tuple[object, int]:
        gpu = JoulesPerAnswer(0, "GPU-a", script=[10.0] * answers)
        server = ScriptedServer([], default=(200, _json.dumps(OK_BODY), {}, 0.15), on_answer=gpu.answer)
        try:
            config, _ = load_run_config(root / "run.toml", {**overrides, "generation.base_url": server.url,
                                                            "generation.gpus": [0]})  # fmt: skip
            clock = WallClock()
            meter = make_meter("nvml", nvml=make_module([gpu], clock), gpu_indices=[0], sampler_hz=None, clock=clock)
            return run_experiment(config, data_dir=root / "data", meter=meter), len(server.seen)
        finally:
            server.close()

    first, asked = run_once(2 * n)
    assert asked == 2 * n and first.summary["repeats"]["passes"] == 2
    # As if the process died two questions before the end of the second pass.
    results = first.run_dir / "results.jsonl"
    results.write_text("".join(results.read_text().splitlines(keepends=True)[:-2]))
    again, asked = run_once(2)
    assert asked == 2  # only the two questions the second pass still lacked
    assert again.summary["repeats"]["passes"] == 2 and again.summary["repeats"]["stop"] == "repeats"
    lines = [_json.loads(line) for line in results.read_text().splitlines()]
    assert sorted(r["repeat"] for r in lines) == [0] * n + [1] * n
