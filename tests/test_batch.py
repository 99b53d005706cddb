"""`wattbench batch` end to end: real llama.cpp (SmolLM2), a real HTTP server on 127.0.0.1, a fake NVML GPU."""

from __future__ import annotations

import csv
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fakes.fake_pynvml import FakeGpu, make_module
from wattbench.backends.base import GenerationRequest, marker_end
from wattbench.backends.openai_compat import endpoint_base_url
from wattbench.campaigns.batch import run_batch
from wattbench.cli import main
from wattbench.config import BatchConfig, EnergyConfig
from wattbench.data.models_csv import load_plan
from wattbench.data.prompts import load_prompts
from wattbench.energy.meters import make_meter
from wattbench.errors import DataError
from wattbench.report.ratings import rate, stars_for
from wattbench.runs.textgen import StopRequest
from wattbench.store.batch_dir import MASTER_COLUMNS
from wattbench.store.schema import MasterRow

SMOL = "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct "
HEADER = ["", "Models to Add", "Priority (1=hi)", "Class", "Task", "Reasoning State", "Chat Template"]
LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] (INFO|WARNING|ERROR): \S")


def _models_csv(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i, (model, cls, task, state, template) in enumerate(rows):
            writer.writerow([i, model, 1, cls, task, state, template])
    return path


def _prompts(path: Path, n: int = 3) -> Path:
    texts = ["What is energy?", "Name a colour.", "Say hello.", "Count to three.", "What is a GPU?"]
    path.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts[:n]), encoding="utf-8")
    return path


def _config(tmp_path: Path, **overrides) -> BatchConfig:
    options = {
        "warmup_prompts": 1,
        "max_new_tokens": 8,
        "reasoning_max_new_tokens": 16,
        "n_ctx": 1024,
        "output_dir": str(tmp_path / "batch_results"),
        "energy": EnergyConfig(meter="none", idle_seconds=0),
    }
    options.update(overrides)
    return BatchConfig(**options)


def _master(root: Path) -> list[dict[str, str]]:
    with open(root / "master_results.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_cli_runs_smollm2_and_records_a_failed_row_and_an_unsupported_one(tmp_path: Path, capsys):
    models = _models_csv(
        tmp_path / "models.csv",
        [
            (SMOL, "A", "text_gen", "Off (N/A)", "N/A (default)"),
            ("https://huggingface.co/Qwen/Qwen3-0.6B", "A", "text_gen", "On", "enable_thinking=True"),
            ("https://huggingface.co/Qwen/Qwen-Image", "", "image_gen", "", "N/A (default)"),
        ],
    )
    out = tmp_path / "batch_results"
    args = ["batch", "--models-csv", str(models), "--prompts-file", str(_prompts(tmp_path / "p.jsonl")),
            "--num-prompts", "3", "--warmup", "1", "--max-new-tokens", "8", "--output-dir", str(out),
            "--meter", "none", "--idle-seconds", "0"]  # fmt: skip
    assert main(args) == 1  # one run failed
    captured = capsys.readouterr()
    assert "2 runs (1 failed), 0 already completed, 1 unsupported" in captured.out
    assert "no such GGUF file" in captured.err and "--gguf-dir" in captured.err

    with open(out / "master_results.csv", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert tuple(header[: len(MASTER_COLUMNS)]) == MASTER_COLUMNS
    smol, qwen = _master(out)
    assert (smol["model_name"], smol["reasoning_state"], smol["status"]) == (
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "Off (N/A)",
        "completed",
    )
    assert smol["total_prompts"] == smol["successful_prompts"] == "3" and smol["failed_prompts"] == "0"
    assert smol["total_completion_tokens"] == "24"  # fixed length: exactly 8 new tokens per prompt
    assert int(smol["total_tokens"]) == int(smol["total_prompt_tokens"]) + 24
    assert float(smol["throughput_tokens_per_second"]) == pytest.approx(24 / float(smol["total_duration_seconds"]))
    assert smol["gpu_energy_wh"] == smol["tokens_per_joule"] == smol["co2_emissions_g"] == ""  # unmeasured: empty
    assert float(smol["avg_ttft_seconds"]) > 0 and smol["error_message"] == ""
    assert qwen["status"] == "failed" and qwen["successful_prompts"] == "0" and qwen["failed_prompts"] == "3"
    assert "no such GGUF file" in qwen["error_message"]

    run = out / "individual_runs" / "HuggingFaceTB_SmolLM2-135M-Instruct_Off_N_A"
    records = [json.loads(line) for line in (run / "prompts.jsonl").read_text().splitlines()]
    assert [r["completion_tokens"] for r in records] == [8, 8, 8]
    assert all(r["reasoning_tokens"] == 0 and len(r["rendered_prompt_sha256"]) == 64 for r in records)
    assert all(r["schema_version"] == 1 for r in records)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and "<|im_start|>user\nWhat is energy?" in summary["first_rendered_prompt"]
    logs = sorted((out / "logs").glob("*.log"))
    assert len(logs) == 2
    smol_log = next(p for p in logs if "SmolLM2" in p.name).read_text().splitlines()
    assert all(LOG_LINE.match(line) for line in smol_log)
    assert smol_log[0].endswith("INFO: Starting benchmark for HuggingFaceTB/SmolLM2-135M-Instruct")
    assert sum("Prompt " in line and "latency" in line for line in smol_log) == 3
    assert any("Harmony: off" in line for line in smol_log) and any("Energy: not measured" in line for line in smol_log)
    qwen_log = next(p for p in logs if "Qwen3" in p.name).read_text()
    assert "ERROR: model could not be loaded" in qwen_log and "enable_thinking': True" in qwen_log


def test_completed_runs_are_skipped_failed_ones_retried_and_force_reruns(tmp_path: Path):
    models = _models_csv(
        tmp_path / "m.csv",
        [(SMOL, "A", "text_gen", "Off", "N/A"), ("https://huggingface.co/acme/missing", "B", "text_gen", "Off", "")],
    )
    config = _config(tmp_path, num_prompts=2)
    specs = load_plan(models, config.max_new_tokens, config.reasoning_max_new_tokens)
    prompts = load_prompts(_prompts(tmp_path / "p.jsonl"), limit=2)
    first = run_batch(config, specs, prompts)
    assert [r.status for r in first.rows] == ["completed", "failed"]
    second = run_batch(config, specs, prompts)
    assert [s.model_id for s in second.skipped] == ["HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert [r.model_name for r in second.rows] == ["acme/missing"]
    third = run_batch(config, specs, prompts, force=True)
    assert len(third.rows) == 2 and not third.skipped
    master = _master(Path(config.output_dir))
    assert len(master) == 2  # one row per (model, state), replaced on each run
    assert master[0]["run_id"] == third.rows[0].run_id


def test_ctrl_c_finishes_the_current_prompt_writes_and_stops(tmp_path: Path):
    models = _models_csv(
        tmp_path / "m.csv", [(SMOL, "A", "text_gen", "Off", ""), (SMOL, "A", "text_gen", "Off (N/A)", "")]
    )
    config = _config(tmp_path, num_prompts=3, warmup_prompts=0)
    specs = load_plan(models, 8, 16)
    stop = StopRequest()

    def notify(message: str) -> None:
        if message.endswith(": 3 prompts"):  # the run has started: the user presses Ctrl-C
            stop.requested = True

    outcome = run_batch(config, specs, load_prompts(_prompts(tmp_path / "p.jsonl")), notify=notify, stop=stop)
    assert outcome.interrupted and len(outcome.rows) == 1  # the second run never started
    row = outcome.rows[0]
    assert row.status == "interrupted" and row.successful_prompts == 1 and row.failed_prompts == 2
    run = Path(config.output_dir) / "individual_runs" / specs[0].run_key
    assert len((run / "prompts.jsonl").read_text().splitlines()) == 1
    assert _master(Path(config.output_dir))[0]["status"] == "interrupted"
    again = run_batch(config, specs, load_prompts(_prompts(tmp_path / "p.jsonl")))
    assert [r.status for r in again.rows] == ["completed", "completed"]  # the interrupted run is redone


class _WallClock:
    """The fake GPU's clock is the real one: the scripted 100 W is drawn for as long as the work takes."""

    @property
    def now(self) -> float:
        return time.monotonic()

    def __call__(self) -> float:
        return time.monotonic()


def test_energy_columns_from_a_metered_gpu(tmp_path: Path):
    """A server on this machine, on GPU 0 (named with gpus), answers the row; the fake GPU draws 100 W."""
    clock = _WallClock()
    nvml = make_module([FakeGpu(0, "GPU-aaaa", schedule=[(0.0, 100.0)])], clock)
    meter = make_meter("nvml", nvml=nvml, gpu_indices=[0], sampler_hz=None, clock=clock)
    server = _Server("Qwen/Qwen3-0.6B")
    models = _models_csv(tmp_path / "m.csv", [("Qwen/Qwen3-0.6B", "A", "text_gen", "Off", "")])
    energy = EnergyConfig(meter="nvml", grid_intensity_g_per_kwh=400.0, idle_seconds=0)
    config = _config(tmp_path, num_prompts=2, backend="openai", endpoint=server.url, gpus=[0], energy=energy)
    try:
        outcome = run_batch(config, load_plan(models, 8, 16), load_prompts(_prompts(tmp_path / "p.jsonl")), meter=meter)
    finally:
        server.close()
    row = outcome.rows[0]
    joules = 100.0 * row.total_duration_seconds
    assert row.gpu_energy_wh == pytest.approx(joules / 3600, rel=1e-3)
    assert row.tokens_per_joule == pytest.approx(18 / joules, rel=1e-3)  # output tokens only (9 per answer)
    assert row.avg_energy_per_prompt_wh == pytest.approx(joules / 3600 / 2, rel=1e-3)
    assert row.wh_per_1000_queries == pytest.approx(1000 * joules / 3600 / 2, rel=1e-3)
    assert row.co2_emissions_g == pytest.approx(joules / 3600 / 1000 * 400.0, rel=1e-3)
    # The fake server answers at once: a window under the counter's step is estimated from power, and says so.
    expected = "nvml_counter" if row.total_duration_seconds >= 0.1 else "nvml_power_estimate"
    assert row.energy_method == expected
    records = next(Path(config.output_dir, "individual_runs").glob("*/prompts.jsonl"))
    per_prompt = [json.loads(line)["gpu_energy_j"] for line in records.read_text().splitlines()]
    assert all(j > 0 for j in per_prompt) and sum(per_prompt) <= joules


def test_a_cpu_engine_is_never_given_the_machines_gpu_energy(tmp_path: Path):
    """llama.cpp on the CPU, on a machine with an idle GPU: the GPU's 60 W is not the row's energy."""
    clock = _WallClock()
    nvml = make_module([FakeGpu(0, "GPU-aaaa", schedule=[(0.0, 60.0)])], clock)
    meter = make_meter("nvml", nvml=nvml, gpu_indices=[0], sampler_hz=None, clock=clock)
    models = _models_csv(tmp_path / "m.csv", [(SMOL, "A", "text_gen", "Off (N/A)", "")])
    config = _config(tmp_path, num_prompts=1, energy=EnergyConfig(meter="nvml", idle_seconds=0))
    outcome = run_batch(config, load_plan(models, 8, 16), load_prompts(_prompts(tmp_path / "p.jsonl")), meter=meter)
    row = outcome.rows[0]
    assert row.status == "completed" and row.gpu_energy_wh is None and row.wh_per_1000_queries is None
    summary = json.loads(next(Path(config.output_dir, "individual_runs").glob("*/summary.json")).read_text())
    assert summary["measured_devices"]["gpus"] == [] and "gpu:0" not in summary["energy"]["energy_j"]


class _Server:
    """A minimal OpenAI-compatible server: a model list, and chat replies that separate the thinking."""

    def __init__(self, served: str, chat_status: int = 200) -> None:
        self.payloads: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._send(200, {"object": "list", "data": [{"id": served}]})

            def do_POST(self) -> None:  # noqa: N802
                payload = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.payloads.append(payload)
                if chat_status != 200:
                    self._send(chat_status, {"error": "bad request"})
                    return
                message = {"content": "Paris.", "reasoning_content": "The capital of France is Paris."}
                usage = {"prompt_tokens": 12, "completion_tokens": 9,
                         "completion_tokens_details": {"reasoning_tokens": 7}}  # fmt: skip
                self._send(200, {"choices": [{"message": message, "finish_reason": "stop"}], "usage": usage})

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize(
    ("model", "state", "template", "expect"),
    [
        ("Qwen/Qwen3-0.6B", "On", "enable_thinking=True", {"chat_template_kwargs": {"enable_thinking": True}}),
        ("deepseek-ai/DeepSeek-R1", "On", "", {"continue_final_message": True, "add_generation_prompt": False}),
        ("openai/gpt-oss-20b", "On (High)", "reasoning_effort: high", {"reasoning_effort": "high"}),
    ],
)
def test_an_existing_server_gets_each_familys_switch(tmp_path: Path, model, state, template, expect):
    server = _Server(model)
    try:
        models = _models_csv(
            tmp_path / "m.csv", [(f"https://huggingface.co/{model}", "B", "text_gen", state, template)]
        )
        config = _config(tmp_path, backend="vllm", endpoint=server.url, num_prompts=2, warmup_prompts=1)
        outcome = run_batch(config, load_plan(models, 8, 16), load_prompts(_prompts(tmp_path / "p.jsonl"), limit=2))
    finally:
        server.close()
    row = outcome.rows[0]
    assert row.status == "completed" and row.successful_prompts == 2
    assert row.total_reasoning_tokens == 14 and row.total_answer_tokens == 4
    assert len(server.payloads) == 3  # one warmup, two measured
    payload = server.payloads[-1]
    for key, value in expect.items():
        assert payload[key] == value
    if model.startswith("deepseek"):
        assert payload["messages"][-1] == {"role": "assistant", "content": "<think>\n"}
    run = Path(config.output_dir, "individual_runs")
    record = json.loads(next(run.glob("*/prompts.jsonl")).read_text().splitlines()[0])
    assert record["thinking"] == "The capital of France is Paris." and record["output"] == "Paris."
    assert record["rendered_by"] == "server"


def test_an_endpoint_serving_another_model_or_failing_every_prompt_fails_the_row(tmp_path: Path):
    models = _models_csv(tmp_path / "m.csv", [(SMOL, "A", "text_gen", "Off", "")])
    prompts = load_prompts(_prompts(tmp_path / "p.jsonl", 5))
    other = _Server("Qwen/Qwen3-0.6B")
    try:
        config = _config(tmp_path, backend="vllm", endpoint=other.url + "/v1/chat/completions")
        row = run_batch(config, load_plan(models, 8, 16), prompts).rows[0]
    finally:
        other.close()
    assert row.status == "failed" and "serves Qwen/Qwen3-0.6B, not HuggingFaceTB/SmolLM2" in row.error_message
    assert other.payloads == []  # nothing was generated against the wrong model
    broken = _Server("HuggingFaceTB/SmolLM2-135M-Instruct", chat_status=400)
    try:
        config = _config(tmp_path, backend="vllm", endpoint=broken.url, warmup_prompts=0, max_consecutive_failures=2)
        row = run_batch(config, load_plan(models, 8, 16), prompts, force=True).rows[0]
    finally:
        broken.close()
    assert row.status == "failed" and "2 failed prompts in a row" in row.error_message
    assert len(broken.payloads) == 2 and row.failed_prompts == 5


def test_unreachable_endpoint_fails_the_row_at_once(tmp_path: Path, capsys):
    models = _models_csv(tmp_path / "m.csv", [(SMOL, "A", "text_gen", "Off", "")])
    started = time.perf_counter()
    code = main(["batch", "--models-csv", str(models), "--prompts-file", str(_prompts(tmp_path / "p.jsonl")),
                 "--backend", "vllm", "--endpoint", "http://127.0.0.1:9", "--output-dir", str(tmp_path / "out"),
                 "--meter", "none", "--idle-seconds", "0"])  # fmt: skip
    assert code == 1 and time.perf_counter() - started < 10
    assert "endpoint http://127.0.0.1:9/v1 unreachable" in capsys.readouterr().err
    row = _master(tmp_path / "out")[0]
    assert row["status"] == "failed" and "unreachable" in row["error_message"]


def test_endpoint_urls_are_normalised():
    assert endpoint_base_url("http://h:8000") == "http://h:8000/v1"
    assert endpoint_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    assert endpoint_base_url("http://h:8000/v1/chat/completions") == "http://h:8000/v1"


def test_llamacpp_fixed_length_prefix_and_plain_prompt():
    from wattbench.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(n_ctx=512)
    try:
        messages = [{"role": "user", "content": "Say hi."}]
        free, fixed, prefixed, plain = backend.generate(
            [
                GenerationRequest(messages=messages, max_tokens=60, min_tokens=0, think_end="</think>"),
                GenerationRequest(messages=messages, max_tokens=60, min_tokens=60),
                GenerationRequest(messages=messages, max_tokens=4, assistant_prefix="<think>\n"),
                GenerationRequest(messages=messages, max_tokens=4, min_tokens=4, prompt_text="The sky is"),
            ]
        )
    finally:
        backend.close()
    assert free.finish_reason == "stop" and free.completion_tokens < 60  # the model ends its reply by itself
    assert free.reasoning_tokens is None  # no end-of-thinking marker in its output
    assert fixed.completion_tokens == 60 and fixed.finish_reason == "length"  # the end token is held back
    assert prefixed.rendered_prompt.endswith("<|im_start|>assistant\n<think>\n")
    assert plain.rendered_prompt == "The sky is" and plain.prompt_tokens <= 4 and plain.completion_tokens == 4
    assert fixed.ttft_s is not None and 0 < fixed.ttft_s < fixed.latency_s


def test_marker_end_counts_ids_up_to_the_end_of_thinking():
    assert marker_end([5, 6, 7, 99, 8], [99]) == 4
    assert marker_end([1, 2, 3, 4], [3, 4]) == 4
    assert marker_end([1, 2], [9]) is None and marker_end([1], []) is None


def test_prompt_sets(tmp_path: Path, data_dir: Path):
    published = load_prompts(data_dir / "energy_score" / "prompts.csv")
    assert len(published) == 39 and published[0].startswith("Create a short story about a robot")
    assert len(load_prompts(data_dir / "energy_score" / "prompts.csv", limit=5)) == 5
    (tmp_path / "h.csv").write_text("id,prompt\n1,alpha\n2,beta\n", encoding="utf-8")
    assert load_prompts(tmp_path / "h.csv") == ["alpha", "beta"]
    (tmp_path / "q.jsonl").write_text('{"question": "x?"}\n\n"plain"\n', encoding="utf-8")
    assert load_prompts(tmp_path / "q.jsonl") == ["x?", "plain"]
    (tmp_path / "bad.jsonl").write_text('{"other": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 1: no prompt field"):
        load_prompts(tmp_path / "bad.jsonl")
    with pytest.raises(DataError, match="prompts file not found"):
        load_prompts(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="EnergyStarAI/text_generation"):
        load_prompts("EnergyStarAI/text_generation")  # no hub here: one line, not a traceback


def test_ratings_use_equal_width_bands_per_task_and_class(tmp_path: Path, capsys):
    assert [stars_for(v, 1.0, 6.0) for v in (1.0, 1.99, 2.0, 3.5, 5.99, 6.0)] == [5, 5, 4, 3, 1, 1]
    assert stars_for(3.0, 3.0, 3.0) == 5
    rows = [
        {"model_name": "a", "reasoning_state": "Off", "task": "text_gen", "model_class": "A",
         "wh_per_1000_queries": "1.0", "status": "completed"},
        {"model_name": "b", "reasoning_state": "On", "task": "text_gen", "model_class": "A",
         "wh_per_1000_queries": "6.0", "status": "completed"},
        {"model_name": "c", "reasoning_state": "Off", "task": "text_gen", "model_class": "B",
         "wh_per_1000_queries": "9.0", "status": "completed"},
        {"model_name": "d", "reasoning_state": "Off", "task": "text_gen", "model_class": "A",
         "wh_per_1000_queries": "", "status": "completed"},
        {"model_name": "e", "reasoning_state": "Off", "task": "text_gen", "model_class": "A",
         "wh_per_1000_queries": "0.1", "status": "failed"},
    ]  # fmt: skip
    report = rate([MasterRow.from_cells(row, "test") for row in rows])
    assert {(r.model_name, r.stars) for r in report.ratings} == {("a", 5), ("b", 1), ("c", 5)}
    assert [(b.model_class, b.min_wh_per_1000, b.max_wh_per_1000) for b in report.bounds] == [
        ("A", 1.0, 6.0),
        ("B", 9.0, 9.0),
    ]
    assert report.bounds[0].band_edges == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert {m for m, _, _ in report.left_out} == {"d", "e"}
    out = tmp_path / "br"
    out.mkdir()
    with open(out / "master_results.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["batch", "ratings", "--output-dir", str(out), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["ratings"]) == 3
    assert main(["batch", "ratings", "--output-dir", str(tmp_path / "none")]) == 2
