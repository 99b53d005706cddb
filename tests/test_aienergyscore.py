"""`wattbench batch --protocol aienergyscore`: the official method, its dataset, the board, the label.

Real components: llama.cpp (SmolLM2) for the CPU run, a real HTTP completions server on 127.0.0.1 with a fake
NVML GPU drawing scripted power over real time for the GPU path, headless Chromium for the label.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from fakes.batch_inputs import models_csv
from fakes.energystar import passage, write_dataset
from fakes.fake_pynvml import FakeGpu, WallClock, make_module
from fakes.servers import CompletionServer
from test_report import CHROMIUM_FLAGS, _chromium
from wattbench.campaigns import batch as batch_campaign
from wattbench.campaigns.batch import plan_rows, run_batch
from wattbench.cli import main
from wattbench.config import BatchConfig, ConfigError, EnergyConfig, load_batch_config
from wattbench.data.board import load_board
from wattbench.data.models_csv import Filters
from wattbench.energy.hardware import gpu_facts
from wattbench.energy.meters import make_meter
from wattbench.protocols import get_protocol
from wattbench.protocols.base import RowFacts
from wattbench.report.official import compare, rate_against
from wattbench.report.ratings import rate
from wattbench.runs.textgen_prompts import batch_prompts
from wattbench.store.batch_dir import BatchDir
from wattbench.store.schema import MasterRow

SMOL = "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture
def no_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Hugging Face cache and no data dir that could hold the dataset: only what a test writes."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WATTBENCH_DATA", str(tmp_path / "no-data"))
    return home


def test_the_protocol_fixes_its_settings_and_refuses_what_breaks_it(tmp_path: Path):
    config = load_batch_config(None, {"protocol": "aienergyscore"})
    assert (config.max_new_tokens, config.reasoning_max_new_tokens, config.batch_size) == (10, 8192, 1)
    assert load_batch_config(None, {}).max_new_tokens == 256  # the default protocol keeps its own defaults
    refused = {"max_new_tokens": 256, "reasoning_max_new_tokens": 4096, "batch_size": 4, "warmup_prompts": 5,
               "prompt_column": "prompt", "energy.meter": "rapl"}  # fmt: skip
    for field, value in refused.items():
        with pytest.raises(ConfigError) as caught:
            load_batch_config(None, {"protocol": "aienergyscore", field: value})
        message = str(caught.value)
        assert "\n" not in message and "aienergyscore" in message and field.split(".")[-1] in message
    assert load_batch_config(None, {"protocol": "aienergyscore", "max_new_tokens": 10}).max_new_tokens == 10
    # A local or Ray job reads the settled config back: the same settings, nothing refused.
    assert BatchConfig.model_validate(config.model_dump()) == config
    toml = tmp_path / "b.toml"
    toml.write_text('protocol = "aienergyscore"\nmax_new_tokens = 64\n', encoding="utf-8")
    assert main(["batch", "--config", str(toml), "--list"]) == 2
    assert main(["batch", "--protocol", "energystar", "--list"]) == 2


def test_list_names_the_protocol_and_the_class_gpu_rule_is_checked_before_running(tmp_path: Path, capsys):
    models = models_csv(tmp_path / "m.csv", [(SMOL, "A", "Off"), ("acme/big", "C", "Off")])
    assert main(["batch", "--models-csv", str(models), "--list"]) == 0
    assert "protocol wattbench (the default; --protocol aienergyscore" in capsys.readouterr().out
    assert main(["batch", "--models-csv", str(models), "--protocol", "aienergyscore", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "protocol aienergyscore: the official AI Energy Score method" in listed and "=10" in listed
    # Class A on two GPUs (or tensor-parallel 2) breaks the protocol: refused before anything runs, naming the row.
    for setting in ("gpus = [0, 1]", "tensor_parallel = 2"):
        toml = tmp_path / "two.toml"
        toml.write_text(f'protocol = "aienergyscore"\n{setting}\n', encoding="utf-8")
        args = ["batch", "--models-csv", str(models), "--config", str(toml), "--list"]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "row 2" in err and "class A" in err and "exactly one GPU" in err
        # Class C may use several.
        assert main([*args, "--class", "C"]) == 0


def test_the_dataset_comes_from_a_file_a_folder_or_a_cache_and_bad_ones_are_named(tmp_path: Path, no_caches: Path):
    config = BatchConfig(protocol="aienergyscore", num_prompts=3)
    with pytest.raises(Exception) as missing:
        batch_prompts(config)
    assert "EnergyStarAI/text_generation" in str(missing.value) and "hf download" in str(missing.value)
    # A Hugging Face hub cache, found without --prompts-file.
    snapshot = no_caches / ".cache/huggingface/hub/datasets--EnergyStarAI--text_generation/snapshots/abc/data"
    write_dataset(snapshot / "train-00000-of-00001.parquet", 5)
    assert batch_prompts(config) == [passage(i) for i in range(3)]  # the first N rows, in file order
    # A folder (a `hf download` target) and a file.
    folder = tmp_path / "dl"
    path = write_dataset(folder / "data" / "train.parquet", 4)
    assert batch_prompts(config.model_copy(update={"prompts_file": str(folder)})) == [passage(i) for i in range(3)]
    assert len(batch_prompts(config.model_copy(update={"prompts_file": str(path), "num_prompts": 4}))) == 4
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("".join(json.dumps({"text": passage(i)}) + "\n" for i in range(3)), encoding="utf-8")
    assert batch_prompts(config.model_copy(update={"prompts_file": str(jsonl)})) == [passage(i) for i in range(3)]
    models = models_csv(tmp_path / "m.csv", [(SMOL, "A", "Off")])
    base = ["batch", "--protocol", "aienergyscore", "--models-csv", str(models), "--output-dir", str(tmp_path / "o")]
    # Fewer rows than asked (1,000 by default), a file without `text`, a missing file: exit 2, nothing run.
    assert main([*base, "--prompts-file", str(path)]) == 2
    wrong = write_dataset(tmp_path / "wrong.parquet", 3, column="prompt")
    assert main([*base, "--prompts-file", str(wrong), "--num-prompts", "3"]) == 2
    assert main([*base, "--prompts-file", str(tmp_path / "nope.parquet")]) == 2
    assert not (tmp_path / "o").exists()


def test_judge_checks_gpu_count_hardware_and_exact_answers():
    protocol = get_protocol("aienergyscore")
    h100 = "NVIDIA H100 80GB HBM3"

    def facts(**kw) -> RowFacts:
        base = {"model_class": "B", "expected_thinking": False, "status": "completed", "gpus_used": (h100,),
                "gpu_energy_j": 12.0, "completion_tokens": (10, 10), "prompts_used": 2, "backend": "hf"}  # fmt: skip
        return RowFacts(**{**base, **kw})

    assert protocol.judge(facts()) == []
    assert "ran on 2 GPUs" in protocol.judge(facts(gpus_used=(h100, h100)))[0]
    assert protocol.judge(facts(model_class="C", gpus_used=(h100, h100))) == []
    assert "NVIDIA H200" in protocol.judge(facts(gpus_used=("NVIDIA H200",)))[0]
    assert "answers of 9 tokens" in protocol.judge(facts(completion_tokens=(10, 9)))[0]
    assert protocol.judge(facts(expected_thinking=True, completion_tokens=(812, 4000))) == []
    assert "no GPU used" in protocol.judge(facts(gpus_used=()))[0]
    assert get_protocol("wattbench").judge(facts()) is None  # no reference: neither comparable nor not


def _gpu_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gpu_name: str, state: str = "Off"):
    """A protocol row against a completions server on this machine's (fake) GPU 0 drawing 200 W."""
    clock = WallClock()
    nvml = make_module([FakeGpu(0, "GPU-aaaa", name=gpu_name, schedule=[(0.0, 200.0)])], clock)
    monkeypatch.setattr(batch_campaign, "system_facts", lambda: {"gpus": gpu_facts(nvml), "driver_version": "580.1"})
    meter = make_meter("nvml", nvml=nvml, gpu_indices=[0], sampler_hz=None, clock=clock)
    server = CompletionServer("Qwen/Qwen3-8B")
    dataset = write_dataset(tmp_path / "ds" / "train.parquet", 6)
    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen3-8B", "A", state)])
    config = BatchConfig(protocol="aienergyscore", models_csv=str(models), prompts_file=str(dataset), num_prompts=6,
                         backend="openai",
                         endpoint=server.url, gpus=[0], output_dir=str(tmp_path / "batch_results"),
                         energy=EnergyConfig(meter="nvml", idle_seconds=0))  # fmt: skip
    try:
        _, specs = plan_rows(config, Filters())
        outcome = run_batch(config, specs, batch_prompts(config), meter=meter)
    finally:
        server.close()
    return outcome.rows[0], server.payloads, Path(config.output_dir), dataset


def test_a_gpu_row_on_an_h100_is_comparable_and_records_every_parameter(tmp_path: Path, monkeypatch):
    row, payloads, out, dataset = _gpu_run(tmp_path, monkeypatch, "NVIDIA H100 80GB HBM3")
    assert row.status == "completed" and row.protocol == "aienergyscore"
    assert row.comparable is True and row.not_comparable_reason is None
    assert row.total_completion_tokens == 60 and row.max_new_tokens == 10 and row.fixed_length is True
    # One H100 at 200 W: Wh per 1,000 queries is the window's energy over 6 prompts, scaled.
    assert row.wh_per_1000_queries == pytest.approx(1000 * 200.0 * row.total_duration_seconds / 3600 / 6, rel=0.02)
    assert row.dataset_sha256 == hashlib.sha256(dataset.read_bytes()).hexdigest() and row.gpu_driver == "580.1"
    # Warm-up as optimum-benchmark does it: one full-length call and 10 two-token calls on prompt 1, then the 6.
    measured = [p for p in payloads if p["path"].endswith("/completions")]
    assert [p["max_tokens"] for p in measured] == [10] + [2] * 10 + [10] * 6
    assert all(p["min_tokens"] == p["max_tokens"] and p["temperature"] == 0 for p in measured)
    assert [p["prompt"] for p in measured[:11]] == [passage(0)] * 11  # the dataset text, no chat template
    assert [p["prompt"] for p in measured[11:]] == [passage(i) for i in range(6)]
    summary = json.loads(next((out / "individual_runs").glob("*/summary.json")).read_text())
    recorded = summary["protocol"]
    assert recorded["name"] == "aienergyscore" and recorded["answer_tokens"] == 10 and recorded["batch_size"] == 1
    assert recorded["dataset"]["sha256"] == row.dataset_sha256 and recorded["dataset"]["prompts_used"] == 6
    assert recorded["gpus_used"] == ["NVIDIA H100 80GB HBM3"] and recorded["warmup"]["short_calls"] == 10
    assert summary["comparability"] == [] and summary["hardware"]["driver_version"] == "580.1"
    master = BatchDir(out).read_master()[0]
    assert master.protocol == "aienergyscore" and master.comparable is True


def test_a_gpu_row_elsewhere_is_measured_and_marked_not_comparable(tmp_path: Path, monkeypatch):
    row, _, _, _ = _gpu_run(tmp_path, monkeypatch, "NVIDIA H200")
    assert row.status == "completed" and row.gpu_energy_wh is not None
    assert (
        row.comparable is False and "NVIDIA H200; the board measures on NVIDIA H100 80GB" in row.not_comparable_reason
    )


def _row(model: str, cls: str, state: str, wh: float | None, **kw) -> MasterRow:
    cells = {"model_name": model, "model_class": cls, "task": "text_gen", "reasoning_state": state,
             "status": "completed", "wh_per_1000_queries": wh, "total_prompts": 1000, "repeats": 1,
             "protocol": "aienergyscore", "max_new_tokens": 10, "reasoning": False, "fixed_length": True,
             **kw}  # fmt: skip
    return MasterRow.model_validate(cells)


def test_ratings_against_the_board_use_its_bands_and_say_when_a_run_is_outside(tmp_path: Path, capsys):
    board_csv = tmp_path / "board.csv"
    board_csv.write_text(
        "model,class,task,reasoning_state,total_gpu_energy\n"
        "a/one,A,text_gen,Off,0.001\na/two,A,text_gen,Off,0.006\nb/big,B,text_gen,Off,0.05\n",
        encoding="utf-8",
    )  # total_gpu_energy: kWh per 1,000 queries, as the leaderboard publishes it
    rows = [_row("me/x", "A", "Off", 1.5), _row("me/y", "A", "Off", 5.5), _row("me/z", "A", "Off", 0.4),
            _row("me/w", "B", "Off", 80.0), _row("me/v", "A", "Off", None)]  # fmt: skip
    report = rate_against(rows, load_board(board_csv))
    stars = {r.model_name: (r.stars, r.note) for r in report.ratings}
    assert stars["me/x"] == (5, None) and stars["me/y"][0] == 1
    assert stars["me/z"][0] == 5 and "below the board's lowest (1 Wh)" in stars["me/z"][1]
    assert stars["me/w"][0] == 1 and "above the board's highest (50 Wh)" in stars["me/w"][1]
    assert report.ratings[0].band_edges == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert [m for m, _, _ in report.left_out] == ["me/v"]
    # The packaged table has no complete range for this group: left out, saying what is known and what to pass.
    packaged = rate_against([_row("me/x", "A", "Off", 1.5)], load_board())
    assert not packaged.ratings and "lowest 1.31" in packaged.left_out[0][2] and "--board" in packaged.left_out[0][2]
    out = tmp_path / "br"
    for row in rows:
        BatchDir(out).upsert_master(row)
    assert main(["batch", "ratings", "--output-dir", str(out), "--against", "official", "--board", str(board_csv)]) == 0
    assert "outside its range" in capsys.readouterr().out
    assert main(["batch", "ratings", "--output-dir", str(out), "--against", "unofficial"]) == 2
    assert main(["batch", "ratings", "--output-dir", str(out), "--against", "official", "--board", "x.csv"]) == 2


def test_compare_official_sets_runs_beside_the_board_with_the_differences(tmp_path: Path, capsys):
    out = tmp_path / "br"
    results = BatchDir(out)
    high = _row("openai/gpt-oss-120b", "C", "On (High)", 9354.4, reasoning=True, effort="high", fixed_length=False,
                max_new_tokens=8192, gpu_name="NVIDIA H100 80GB HBM3", backend="hf")  # fmt: skip
    results.upsert_master(high)
    results.upsert_master(_row("HuggingFaceTB/SmolLM2-135M-Instruct", "A", "Off", 0.9, protocol="wattbench",
                               max_new_tokens=256, total_prompts=39, backend="llamacpp"))  # fmt: skip
    results.upsert_master(_row("openai/gpt-oss-20b", "A", "On (High)", 60.0, reasoning=True, fixed_length=False))
    matched, unmatched = compare(results.read_master(), load_board())
    assert [(m.row.model_name, m.entry.wh_per_1000_queries) for m in matched] == [("openai/gpt-oss-120b", 8504.0)]
    assert matched[0].ratio == pytest.approx(9354.4 / 8504.0) and matched[0].differences == []
    assert main(["batch", "compare-official", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "8,504.00" in printed and "1.100" in printed
    assert "gpt-oss-20b" in printed and "53.82" in printed and "no public source" in printed  # not used unconfirmed
    assert "SmolLM2-135M-Instruct 'Off': not on the board table" in printed
    low = tmp_path / "low"
    BatchDir(low).upsert_master(_row("openai/gpt-oss-120b", "C", "On (Low)", 7000.0, reasoning=True, effort="low",
                                     fixed_length=False, max_new_tokens=4096, total_prompts=20,
                                     protocol="wattbench", backend="llamacpp", dtype="gguf Q4_K_M"))  # fmt: skip
    (only,), _ = compare(BatchDir(low).read_master(), load_board())
    assert only.entry.wh_per_1000_queries == 5313.0  # the state picks the board's figure
    assert any("protocol wattbench" in d for d in only.differences)
    assert any("4096 new tokens at most; the board's 8192" in d for d in only.differences)
    assert any("20 prompts; the board's 1000" in d for d in only.differences)
    assert any("gguf Q4_K_M" in d for d in only.differences)
    # No run on the board: one line naming the table, exit 2.
    none = tmp_path / "none"
    BatchDir(none).upsert_master(_row("acme/unknown", "A", "Off", 1.0))
    assert main(["batch", "compare-official", "--output-dir", str(none)]) == 2
    assert "none of the 1 runs is on the board table" in capsys.readouterr().err


def test_label_svg_and_png_render_in_chromium_and_the_report_shows_labels(tmp_path: Path, monkeypatch, capsys):
    chromium = _chromium()
    row, _, out, _ = _gpu_run(tmp_path, monkeypatch, "NVIDIA H100 80GB HBM3")
    assert main(["batch", "label", row.run_id or "", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    folder = next((out / "individual_runs").iterdir())
    svg, png = folder / "label.svg", folder / "label.png"
    assert str(svg) in printed and png.exists()
    text = svg.read_text(encoding="utf-8")
    figure = f"{row.wh_per_1000_queries:,.2f}"
    for expected in ("Qwen/Qwen3-8B", figure, "Wh per 1,000 queries", "class A", "Protocol: aienergyscore",
                     "1 x NVIDIA H100 80GB HBM3", "measured with wattbench", "5 of 5 stars"):  # fmt: skip
        assert expected in text, expected
    page = tmp_path / "label.html"
    page.write_text(f"<!DOCTYPE html><html><body style='margin:0'>{text[text.find('<svg') :]}</body></html>")
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, *profile, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    assert figure in dom and "Qwen/Qwen3-8B" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, *profile, "--window-size=400,600", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120, check=True)  # fmt: skip
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (600, 400) and pixels.std() > 0.05  # drawn, not blank
    green = ((pixels[..., 0] < 0.3) & (pixels[..., 1] > 0.4) & (pixels[..., 2] < 0.3)).mean()
    assert green > 0.02  # the header band and the filled stars
    label_png = imread(png)
    assert label_png.std() > 0.05
    from wattbench.report.html import _labels

    labels = _labels(out, BatchDir(out).read_master())
    assert len(labels) == 1 and figure in labels[0]
    assert main(["batch", "label", "no-such-run", "--output-dir", str(out)]) == 2


@pytest.mark.slow
def test_protocol_run_of_smollm2_on_cpu_answers_exactly_10_tokens(tmp_path: Path, no_caches: Path, capsys):
    models = models_csv(tmp_path / "m.csv", [(SMOL, "A", "Off (N/A)")])
    dataset = write_dataset(tmp_path / "ds.parquet", 4)
    out = tmp_path / "br"
    args = ["batch", "--protocol", "aienergyscore", "--models-csv", str(models), "--prompts-file", str(dataset),
            "--num-prompts", "4", "--output-dir", str(out), "--idle-seconds", "0"]  # fmt: skip
    assert main(args) == 0
    run = next((out / "individual_runs").iterdir())
    records = [json.loads(line) for line in (run / "prompts.jsonl").read_text().splitlines()]
    assert [r["completion_tokens"] for r in records] == [10, 10, 10, 10]
    assert all(r["prompt_tokens"] > 300 for r in records)  # the passages themselves, near the official length
    summary = json.loads((run / "summary.json").read_text())
    assert "<|im_start|>" not in summary["first_rendered_prompt"]  # no chat template
    assert summary["first_rendered_prompt"].startswith("Passage 1.")
    master = BatchDir(out).read_master()[0]
    assert master.comparable is False and "no GPU used" in (master.not_comparable_reason or "")
    assert master.dtype == "gguf Q4_1" and (master.engine_version or "").startswith("llama.cpp ")
    log = next((out / "logs").glob("*.log")).read_text()
    assert "Warmup: 11 calls, 11 prompts" in log and "Not comparable" in log


@pytest.mark.slow
def test_a_local_executor_job_runs_the_same_protocol(tmp_path: Path, no_caches: Path):
    """The row runs in a subprocess that reads the settled config back: same modes, same warm-up, same record."""
    models = models_csv(tmp_path / "m.csv", [(SMOL, "A", "Off (N/A)")])
    dataset = write_dataset(tmp_path / "ds.parquet", 2)
    out = tmp_path / "br"
    args = ["batch", "--protocol", "aienergyscore", "--models-csv", str(models), "--prompts-file", str(dataset),
            "--num-prompts", "2", "--output-dir", str(out), "--idle-seconds", "0", "--executor", "local",
            "--slots", "1"]  # fmt: skip
    assert main(args) == 0
    run = next((out / "individual_runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["first_rendered_prompt"].startswith("Passage 1.") and summary["protocol"]["answer_tokens"] == 10
    assert summary["protocol"]["dataset"]["sha256"] == hashlib.sha256(dataset.read_bytes()).hexdigest()
    assert BatchDir(out).read_master()[0].total_completion_tokens == 20


@pytest.mark.slow
def test_a_job_on_a_node_without_the_dataset_file_keeps_its_record(tmp_path: Path, no_caches: Path):
    """A Ray node gets the prompts in the job; the dataset's sha256 is taken where the file is, before shipping."""
    from wattbench.campaigns.batch_parallel import _payload
    from wattbench.runs import child

    models = models_csv(tmp_path / "m.csv", [(SMOL, "A", "Off (N/A)")])
    dataset = write_dataset(tmp_path / "ds.parquet", 2)
    sha256 = hashlib.sha256(dataset.read_bytes()).hexdigest()
    config = BatchConfig(protocol="aienergyscore", models_csv=str(models), prompts_file=str(dataset), num_prompts=2,
                         output_dir=str(tmp_path / "br"), energy=EnergyConfig(idle_seconds=0))  # fmt: skip
    spec = next(s for s in plan_rows(config, Filters())[1] if s.supported)
    job = _payload(config, models, spec, batch_prompts(config), False)
    assert job["dataset"]["sha256"] == sha256
    dataset.unlink()  # what the node sees: no file
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    assert child.main([str(job_path)]) == 0
    run = next((tmp_path / "br" / "individual_runs").iterdir())
    assert json.loads((run / "summary.json").read_text())["protocol"]["dataset"]["sha256"] == sha256
    assert BatchDir(tmp_path / "br").read_master()[0].dataset_sha256 == sha256


def test_stars_and_the_board_comparison_admit_the_rows_energy_interval(tmp_path: Path, capsys):
    board_csv = tmp_path / "board.csv"
    board_csv.write_text("model,class,task,reasoning_state,total_gpu_energy\n"
                         "a/one,A,text_gen,Off,0.001\na/two,A,text_gen,Off,0.006\n", encoding="utf-8")  # fmt: skip
    # Bands of 1 Wh from 1 to 6 Wh per 1,000 queries. me/x: 3.9 with an interval 3.7-4.2, across the 4 Wh edge;
    # me/y: 2.5 with 2.4-2.6, inside one band; me/z: one pass, no interval.
    passes = {
        "repeats": 5,
        "repeat_energy_per_prompt_wh_ci95_low": 0.0037,
        "repeat_energy_per_prompt_wh_ci95_high": 0.0042,
    }
    rows = [_row("me/x", "A", "Off", 3.9, **passes),
            _row("me/y", "A", "Off", 2.5, **{**passes, "repeat_energy_per_prompt_wh_ci95_low": 0.0024,
                                              "repeat_energy_per_prompt_wh_ci95_high": 0.0026}),
            _row("me/z", "A", "Off", 4.5)]  # fmt: skip
    official = {r.model_name: r for r in rate_against(rows, load_board(board_csv)).ratings}
    assert official["me/x"].stars == 3 and official["me/x"].stars_range == [2, 3]
    assert official["me/x"].stars_label == "2-3" and official["me/x"].wh_ci95 == pytest.approx([3.7, 4.2])
    assert official["me/y"].stars_range is None and official["me/y"].stars_label == "4"
    assert official["me/z"].wh_ci95 is None and official["me/z"].stars_range is None
    out = tmp_path / "br"
    for row in rows:
        BatchDir(out).upsert_master(row)
    assert main(["batch", "ratings", "--output-dir", str(out), "--against", "official", "--board", str(board_csv)]) == 0
    assert "2-3 stars  me/x 'Off' 3.900 [3.700, 4.200] Wh/1000 queries" in capsys.readouterr().out
    # Within the batch (bands 2.5-4.5): the same rule.
    own = {r.model_name: r for r in rate(rows).ratings}
    assert own["me/x"].stars_range == [1, 2] and own["me/y"].stars_range is None
    # compare-official: whether the board's figure lies inside our interval.
    board = tmp_path / "br2"
    high = _row("openai/gpt-oss-120b", "C", "On (High)", 9354.4, reasoning=True, effort="high", fixed_length=False,
                max_new_tokens=8192, gpu_name="NVIDIA H100 80GB HBM3", backend="hf", repeats=5,
                repeat_energy_per_prompt_wh_ci95_low=8.2, repeat_energy_per_prompt_wh_ci95_high=10.1)  # fmt: skip
    BatchDir(board).upsert_master(high)
    (item,), _ = compare(BatchDir(board).read_master(), load_board())
    assert item.ours_ci95 == pytest.approx([8200.0, 10100.0]) and item.board_inside is True  # the board's 8504
    assert main(["batch", "compare-official", "--output-dir", str(board)]) == 0
    assert (
        "the board's figure is inside our 95% interval across passes [8,200.00, 10,100.00]" in capsys.readouterr().out
    )
