"""Streaming on every engine: TTFT, TPOT and inter-token latencies against a server that streams on a script
(a real HTTP server on 127.0.0.1), and the percentiles the summaries report."""

from __future__ import annotations

import pytest

from fakes.batch_inputs import models_csv, prompts_jsonl
from fakes.servers import StreamingServer
from wattbench.backends.base import GenerationRequest
from wattbench.backends.registry import create_backend
from wattbench.backends.timing import TokenTimes, percentile, spread

SLACK_S = 0.03  # scheduling and loopback latency on a busy 2-core machine


def _ask(url: str, max_tokens: int = 64, **options) -> object:
    backend = create_backend("openai", model="m", base_url=url, **options)
    return backend.generate([GenerationRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=max_tokens)])


def test_ttft_tpot_and_itl_follow_the_scripted_delays():
    server = StreamingServer(ttft_s=0.25, itl_s=0.05, tokens=6)
    try:
        (done,) = _ask(server.url)
    finally:
        server.close()
    assert done.error is None and done.text == "tok " * 6 and done.completion_tokens == 6 and done.prompt_tokens == 5
    assert server.payloads[0]["stream"] is True and server.payloads[0]["stream_options"] == {"include_usage": True}
    assert done.ttft_s == pytest.approx(0.25, abs=SLACK_S)
    assert len(done.itl_s) == 5 and all(gap == pytest.approx(0.05, abs=SLACK_S) for gap in done.itl_s)
    assert done.tpot_s == pytest.approx(0.05, abs=SLACK_S / 5)
    assert done.latency_s == pytest.approx(0.25 + 5 * 0.05, abs=2 * SLACK_S)


def test_several_tokens_to_a_chunk_tpot_divides_by_tokens_and_itl_is_per_chunk():
    server = StreamingServer(ttft_s=0.1, itl_s=0.09, tokens=9, per_chunk=3)
    try:
        (done,) = _ask(server.url)
    finally:
        server.close()
    assert done.completion_tokens == 9 and len(done.itl_s) == 2
    assert all(gap == pytest.approx(0.09, abs=SLACK_S) for gap in done.itl_s)
    assert done.tpot_s == pytest.approx(2 * 0.09 / 8, abs=SLACK_S / 4)


def test_a_stream_without_usage_counts_chunks_and_says_so():
    server = StreamingServer(ttft_s=0.0, itl_s=0.0, tokens=4, usage=False)
    try:
        (done,) = _ask(server.url)
    finally:
        server.close()
    assert done.completion_tokens == 4 and done.prompt_tokens is None and "no usage" in done.notes[0]


def test_a_stream_cut_off_is_a_failure_not_a_short_answer():
    server = StreamingServer(ttft_s=0.0, itl_s=0.0, tokens=8, cut_after=3)
    try:
        (done,) = _ask(server.url, max_attempts=1)
    finally:
        server.close()
    assert done.error is not None and "without a finish reason" in done.error and done.finish_reason == "error"


def test_stream_false_sends_a_plain_request():
    server = StreamingServer(ttft_s=0.0, itl_s=0.0, tokens=2)
    try:
        _ask(server.url, stream=False, max_attempts=1)
    finally:
        server.close()
    assert "stream" not in server.payloads[0]


def test_timing_and_percentiles():
    times = TokenTimes([0.2, 0.3, 0.5, 0.6])
    assert times.ttft_s == 0.2 and times.itl_s == pytest.approx([0.1, 0.2, 0.1])
    assert times.tpot_s(4) == pytest.approx(0.4 / 3) and times.tpot_s(1) is None and TokenTimes().ttft_s is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and percentile([5.0], 99) == 5.0 and percentile([], 50) is None
    assert percentile(list(map(float, range(101))), 90) == 90.0
    assert spread([1.0, 3.0], "ttft") == {"ttft_p50_s": 2.0, "ttft_p90_s": 2.8, "ttft_p99_s": pytest.approx(2.98)}


@pytest.mark.slow
def test_llama_cpp_stamps_each_token_on_both_paths():
    """The chat path (WattBot's, with its grammar) and the rendered path (fixed length) both time every token."""
    backend = create_backend("llamacpp")
    try:
        chat = GenerationRequest(messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8)
        fixed = GenerationRequest(messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8, min_tokens=8)
        out = backend.generate([chat, fixed])
    finally:
        backend.close()
    for done in out:
        count = done.completion_tokens
        assert done.error is None and count and len(done.itl_s) == count - 1
        assert 0 < done.ttft_s < done.latency_s and done.tpot_s == pytest.approx(sum(done.itl_s) / (count - 1))
    assert out[1].completion_tokens == 8


def test_a_batch_row_records_each_prompts_timing_and_the_percentiles(tmp_path):
    import json

    from wattbench.campaigns.batch import plan_rows, run_batch
    from wattbench.config import BatchConfig, EnergyConfig
    from wattbench.data.models_csv import Filters
    from wattbench.runs.textgen_prompts import batch_prompts
    from wattbench.store.batch_dir import BatchDir

    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", [f"question {i}" for i in range(3)])
    server = StreamingServer(ttft_s=0.12, itl_s=0.03, tokens=5)
    config = BatchConfig(models_csv=str(models), prompts_file=str(prompts), num_prompts=3, backend="openai",
                         endpoint=server.url, output_dir=str(tmp_path / "out"), max_new_tokens=5, batch_size=1,
                         energy=EnergyConfig(meter="none", idle_seconds=0))  # fmt: skip
    try:
        _, specs = plan_rows(config, Filters())
        run_batch(config, specs, batch_prompts(config))
    finally:
        server.close()
    row = BatchDir(tmp_path / "out").read_master()[0]
    assert row.status == "completed" and row.total_completion_tokens == 15
    assert row.ttft_p50_s == pytest.approx(0.12, abs=SLACK_S) and row.ttft_p99_s >= row.ttft_p50_s
    assert row.tpot_p50_s == pytest.approx(0.03, abs=SLACK_S / 2) and row.itl_p90_s == pytest.approx(0.03, abs=SLACK_S)
    run = next((tmp_path / "out" / "individual_runs").iterdir())
    records = [json.loads(line) for line in (run / "prompts.jsonl").read_text().splitlines()]
    assert all(len(r["itl_s"]) == 4 and r["tpot_s"] > 0 for r in records)


def test_generation_stream_false_in_a_run_config_reaches_the_engine():
    from wattbench.backends.openai_compat import OpenAICompatBackend
    from wattbench.config import ExperimentConfig

    config = ExperimentConfig(provider="openai", model="m", generation={"stream": False})
    assert OpenAICompatBackend.run_options(config)["stream"] is False
    assert OpenAICompatBackend.run_options(ExperimentConfig(provider="openai", model="m"))["stream"] is True
