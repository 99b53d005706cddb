"""Which timeout does which, with the default settings: a server that accepts and never sends a byte is given up
quickly; a stream that is alive is never cut, however long it runs. Real servers on 127.0.0.1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fakes.servers import SilentServer, StreamingServer
from fakes.workspace import make_workspace
from wattbench.backends.base import GenerationRequest
from wattbench.backends.registry import create_backend
from wattbench.cli import main


def _request(max_tokens: int = 8) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=max_tokens)


def test_a_stalled_stream_is_cut_at_the_stall_timeout_and_a_live_one_is_not():
    # Scaled: 0.3 s between tokens against a 1 s stall limit runs to the end; a 2 s gap is a stall.
    live = StreamingServer(ttft_s=0.05, itl_s=0.3, tokens=8)
    stalled = StreamingServer(ttft_s=2.0, itl_s=0.01, tokens=4)
    try:
        options = {"model": "m", "stall_timeout_s": 1.0, "max_attempts": 1, "request_timeout_s": 0.5}
        (done,) = create_backend("openai", base_url=live.url, **options).generate([_request()])
        assert done.error is None and done.completion_tokens == 8  # 2.2 s in all: past request_timeout_s
        assert done.latency_s > 2.0
        started = time.monotonic()
        (cut,) = create_backend("openai", base_url=stalled.url, **options).generate([_request()])
        assert "the reply stalled: no byte for 1 s (generation.stall_timeout_s)" in cut.error
        assert 0.9 < time.monotonic() - started < 1.9
    finally:
        live.close()
        stalled.close()


@pytest.mark.slow
def test_with_defaults_a_silent_server_fails_a_question_in_30_s_and_a_3_question_run_in_2_min(
    wattbot: Path, tmp_path: Path, capsys
):
    root = make_workspace(wattbot, tmp_path)
    config = (root / "run.toml").read_text().replace("[retrieval]", 'provider = "openai"\nmodel = "m"\n[retrieval]')
    (root / "server.toml").write_text(config)
    server = SilentServer()
    started = time.monotonic()
    try:
        code = main(["run", "--config", str(root / "server.toml"), "--data-dir", str(root / "data"), "--name", "silent",
                     "--base-url", server.url, "--quiet", "--limit", "3"])  # fmt: skip
    finally:
        server.close()
    took = time.monotonic() - started
    assert code == 1
    records = [json.loads(line) for line in (root / "runs" / "silent" / "results.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["error"] for r in records)
    assert all(r["latency_s"] < 30.0 for r in records), [r["latency_s"] for r in records]
    assert "generation.first_byte_timeout_s" in records[0]["error"]
    assert took < 120.0, took


@pytest.mark.slow
def test_with_defaults_a_stream_of_one_token_a_second_for_two_minutes_is_never_cut():
    server = StreamingServer(ttft_s=1.0, itl_s=1.0, tokens=121)
    try:
        backend = create_backend("openai", model="m", base_url=server.url)
        (done,) = backend.generate([_request(max_tokens=200)])
    finally:
        server.close()
    assert done.error is None and done.completion_tokens == 121
    assert done.latency_s > 120.0 and done.attempts == 1
