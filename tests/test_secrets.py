"""Credentials in URLs: never resolved as a host, printed, logged or stored; sent as the protocol intends.

Every URL option carries user-info (and a query token) here: `run --base-url` and `--meter-url`, the same keys in
a config file, `batch --endpoint`. The resolver is patched for the whole test, so a lookup of a name holding `@`
or `:` fails it, and nothing reaches a real resolver. Then every file the run, the batch row, the report and the
agent's log wrote is read for the secret."""

from __future__ import annotations

import base64
import socket
import threading
from pathlib import Path

import pytest

from fakes.batch_inputs import models_csv, prompts_jsonl
from fakes.fake_pynvml import FakeGpu, WallClock, make_module
from fakes.servers import ScriptedServer, StreamingServer
from fakes.workspace import make_workspace
from wattbench.cli import main
from wattbench.energy.agent import Readings, make_server

SECRET = "hunter2-Pw"
TOKEN = "q-token-77"


@pytest.fixture
def resolver(monkeypatch):
    """getaddrinfo that answers loopback names only and records every name asked."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def lookup(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        if name not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, f"test resolver: {name} is not looked up here")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield asked
    assert not [a for a in asked if "@" in a or (":" in a and a != "::1")], asked
    assert not [a for a in asked if SECRET in a]


@pytest.fixture
def agent(capfd):
    gpus = [FakeGpu(0, "GPU-a", schedule=[(0.0, 200.0)])]
    server = make_server(Readings(make_module(gpus, WallClock()), [0]), "127.0.0.1", 0, None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://meter:{SECRET}@127.0.0.1:{server.server_address[1]}/v1?token={TOKEN}"
    server.shutdown()
    server.server_close()


def _files_holding(root: Path, *secrets: str) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {s}" for s in secrets if s.encode() in data]
    return found


def _auth(headers: dict[str, str]) -> str:
    return {k.lower(): v for k, v in headers.items()}.get("authorization", "")


def test_run_with_credentials_in_every_url(wattbot: Path, tmp_path: Path, resolver, agent, capfd, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    root = make_workspace(wattbot, tmp_path / "ws")
    server = ScriptedServer([], models=(200, '{"data": [{"id": "m"}]}'))
    url = server.url.replace("http://", f"http://alice:{SECRET}@") + f"?api_key={TOKEN}"
    base = (root / "run.toml").read_text().replace("[retrieval]", 'provider = "openai"\nmodel = "m"\n[retrieval]')
    # The config file's own keys carry them too; the flags below win for the first run.
    (root / "server.toml").write_text(base.replace("[energy]\n", f'[energy]\nmeter_url = "{agent}"\n')
                                      + f'[generation]\nbase_url = "{url}"\nstream = false\n')  # fmt: skip
    try:
        args = ["run", "--config", str(root / "server.toml"), "--data-dir", str(root / "data"), "--quiet"]
        assert main([*args, "--name", "flags", "--base-url", url, "--meter-url", agent]) == 0
        assert main([*args, "--name", "keys"]) == 0
        # The report over both runs: a page that shows base URLs must show them redacted.
        assert main(["report", "--experiments-dir", str(root / "runs"), "--out", str(root / "report.html"),
                     "--plots-dir", str(root / "plots"), "--batch-dir", str(root / "none"),
                     "--load-dir", str(root / "none"), "--data-dir", str(root / "data"),
                     "--solution", str(root / "questions.csv")]) == 0  # fmt: skip
    finally:
        server.close()
    expected = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
    assert server.seen and all(_auth(headers) == expected for headers, _ in server.seen)
    out, err = capfd.readouterr()
    assert SECRET not in out + err and TOKEN not in out + err
    assert [f for f in _files_holding(root, SECRET, TOKEN) if "server.toml" not in f] == []  # the user's own file
    summary = (root / "runs" / "flags" / "summary.json").read_text()
    assert "http://***@127.0.0.1" in summary and "api_key=***" in summary


def test_batch_with_credentials_in_endpoint_and_meter_url(tmp_path: Path, resolver, agent, capfd):
    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", ["q 1", "q 2"])
    server = StreamingServer(ttft_s=0.01, itl_s=0.01, tokens=4)
    endpoint = server.url.replace("http://", f"http://bob:{SECRET}@") + f"?access_token={TOKEN}"
    out = tmp_path / "out"
    try:
        code = main(["batch", "--models-csv", str(models), "--prompts-file", str(prompts), "--num-prompts", "2",
                     "--backend", "openai", "--endpoint", endpoint, "--meter-url", agent, "--output-dir", str(out),
                     "--idle-seconds", "0", "--max-new-tokens", "4"])  # fmt: skip
    finally:
        server.close()
    assert code == 0
    output, err = capfd.readouterr()
    assert SECRET not in output + err and TOKEN not in output + err
    assert not _files_holding(out, SECRET, TOKEN)
    assert not _files_holding(tmp_path, SECRET)  # nothing beside the output either
    assert "gpu_energy_wh" in (out / "master_results.csv").read_text()


def test_an_unreachable_endpoint_with_credentials_is_named_redacted(tmp_path: Path, resolver, capfd):
    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", ["q 1"])
    out = tmp_path / "out"
    code = main(["batch", "--models-csv", str(models), "--prompts-file", str(prompts), "--backend", "openai",
                 "--endpoint", f"http://carol:{SECRET}@127.0.0.1:9/v1", "--output-dir", str(out),
                 "--idle-seconds", "0"])  # fmt: skip
    assert code == 1
    output, err = capfd.readouterr()
    assert SECRET not in output + err and "http://***@127.0.0.1:9/v1" in output + err
    assert not _files_holding(out, SECRET)


def test_redaction_rules():
    from wattbench.urls import parse_url, redact_text

    endpoint = parse_url(f"https://u%40corp:{SECRET}@127.0.0.1:8443/v1?api-version=2&apiKey={TOKEN}")
    assert endpoint.url == f"https://127.0.0.1:8443/v1?api-version=2&apiKey={TOKEN}"
    assert endpoint.shown == "https://***@127.0.0.1:8443/v1?api-version=2&apiKey=***"
    assert (endpoint.username, endpoint.password) == ("u@corp", SECRET)
    assert endpoint.join("models") == f"https://127.0.0.1:8443/v1/models?api-version=2&apiKey={TOKEN}"
    assert str(endpoint) == endpoint.shown
    line = f"error: http://x:{SECRET}@127.0.0.1/v1 and 'https://tok{TOKEN}@127.0.0.2/a?sig={TOKEN}&b=1'"
    assert SECRET not in redact_text(line) and TOKEN not in redact_text(line)
    assert redact_text("plain text, a=b, https://127.0.0.1/v1") == "plain text, a=b, https://127.0.0.1/v1"


def test_a_parallel_batch_keeps_credentials_out_of_its_job_files(tmp_path: Path, resolver, monkeypatch, capfd):
    from wattbench.urls import SECRETS_ENV

    monkeypatch.delenv(SECRETS_ENV, raising=False)
    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", ["q 1", "q 2"])
    server = ScriptedServer([], models=(200, '{"data": [{"id": "Qwen/Qwen2.5-7B-Instruct"}]}'))
    endpoint = server.url.replace("http://", f"http://dave:{SECRET}@")
    out = tmp_path / "out"
    try:
        code = main(["batch", "--models-csv", str(models), "--prompts-file", str(prompts), "--backend", "openai",
                     "--endpoint", endpoint, "--output-dir", str(out), "--idle-seconds", "0", "--max-new-tokens",
                     "4", "--executor", "local", "--slots", "1"])  # fmt: skip
    finally:
        server.close()
    assert code == 0, capfd.readouterr()
    expected = "Basic " + base64.b64encode(f"dave:{SECRET}".encode()).decode()
    assert server.seen and all(_auth(headers) == expected for headers, _ in server.seen)  # the child had them
    assert list((out / "jobs").glob("*.json")) and not _files_holding(out, SECRET)
    output, err = capfd.readouterr()
    assert SECRET not in output + err
