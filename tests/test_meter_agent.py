"""`wattbench meter serve` and `--meter-url`: GPU energy from an agent on the server's host, read over HTTP.

The agent is real (an HTTP server on 127.0.0.1) over a fake NVML whose GPUs draw scripted power in real time,
so a window's energy is known: power × the time between the agent's two readings.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fakes.batch_inputs import models_csv, prompts_jsonl
from fakes.fake_pynvml import FakeGpu, WallClock, make_module
from fakes.servers import StreamingServer
from wattbench.cli import main
from wattbench.energy.agent import Readings, make_server, read_token
from wattbench.energy.meters import make_meter
from wattbench.errors import ConfigError

SECRET = "s3cret-agent-token-42"


@pytest.fixture
def agent(request):
    """An agent serving GPUs 0 and 1 (300 W and 100 W); `request.param` is its token (None: loopback, no token)."""
    token = getattr(request, "param", None)
    gpus = [FakeGpu(0, "GPU-a", schedule=[(0.0, 300.0)]), FakeGpu(1, "GPU-b", schedule=[(0.0, 100.0)])]
    server = make_server(Readings(make_module(gpus, WallClock()), [0, 1]), "127.0.0.1", 0, token)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", server
    server.shutdown()
    server.server_close()


def test_windows_get_the_agents_gpu_energy(agent):
    url, _ = agent
    meter = make_meter("auto", meter_url=url, sampler_hz=None)
    assert sorted(s for src in meter.sources for s in src.scopes()) == ["gpu:0", "gpu:1"]
    with meter.window("work") as window:
        time.sleep(0.6)
    result = window.result
    assert result.energy_j["gpu:0"] == pytest.approx(300.0 * result.duration_s, rel=0.03)
    assert result.energy_j["gpu:1"] == pytest.approx(100.0 * result.duration_s, rel=0.03)
    assert result.method["gpu:0"] == "remote_agent_nvml_counter" and not result.unavailable
    # The device rule of a server elsewhere would drop every GPU; the agent's GPUs stay the run's.
    meter.focus(lambda scope: False, {"gpu": "remote server", "cpu": "remote server"})
    with meter.window("focused") as focused:
        time.sleep(0.2)
    assert set(focused.result.energy_j) == {"gpu:0", "gpu:1"}


@pytest.mark.parametrize("agent", [SECRET], indirect=True)
def test_a_token_is_required_and_never_logged(agent, capsys, tmp_path: Path, monkeypatch):
    url, _ = agent
    refused = make_meter("auto", meter_url=url, sampler_hz=None)
    assert not refused.sources and "refused the token" in refused.unavailable()["gpu"]
    wrong = make_meter("auto", meter_url=url, meter_token="nope", sampler_hz=None)
    assert "HTTP 401" in wrong.unavailable()["gpu"]
    token_file = tmp_path / "token"
    token_file.write_text(SECRET + "\n", encoding="utf-8")
    assert read_token(token_file) == SECRET
    monkeypatch.setenv("WATTBENCH_METER_TOKEN", SECRET)
    assert read_token(None) == SECRET
    meter = make_meter("auto", meter_url=url, meter_token=SECRET, sampler_hz=None)
    with meter.window("w") as window:
        time.sleep(0.3)
    assert window.result.energy_j["gpu:0"] == pytest.approx(300.0 * window.result.duration_s, rel=0.05)
    logged = capsys.readouterr()
    assert "GET /v1/readings 401" in logged.err and "GET /v1/readings 200" in logged.err
    assert SECRET not in logged.err + logged.out


def test_binding_beyond_loopback_needs_a_token(tmp_path: Path):
    readings = Readings(make_module([FakeGpu(0, "GPU-a")], WallClock()), [0])
    with pytest.raises(ConfigError, match="needs a token"):
        make_server(readings, "0.0.0.0", 0, None)
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        read_token(tmp_path / "empty")


def test_an_agent_down_mid_run_leaves_that_window_unavailable(agent):
    url, server = agent
    meter = make_meter("auto", meter_url=url, sampler_hz=None)
    with meter.window("before") as first:
        time.sleep(0.2)
    server.shutdown()
    server.server_close()
    with meter.window("after") as second:
        time.sleep(0.1)
    assert first.result.energy_j["gpu:0"] > 0
    assert "gpu:0" not in second.result.energy_j
    assert "did not answer" in second.result.unavailable["gpu:0"]


@contextmanager
def _serving(gpus: list[FakeGpu], clock: WallClock) -> Iterator[str]:
    server = make_server(Readings(make_module(gpus, clock), [g.index for g in gpus]), "127.0.0.1", 0, None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_counter_reset_or_wrap_on_the_agent_s_host_is_counted_as_a_local_one_is():
    clock = WallClock()
    reset = FakeGpu(0, "GPU-a", schedule=[(0.0, 300.0)], resets_at=clock.now + 0.3)
    wrapping = FakeGpu(1, "GPU-b", schedule=[(0.0, 100.0)], counter_offset_mj=2**64 - 20_000)
    wrapping.counter_offset_mj -= int(wrapping.energy_j(0.0, clock.now) * 1000)  # 20 J before the wrap, now
    with _serving([reset, wrapping], clock) as url:
        meter = make_meter("auto", meter_url=url, sampler_hz=20)
        meter.sampler.start(None)
        try:
            with meter.window("across") as window:
                time.sleep(0.6)
        finally:
            meter.sampler.stop()
    result = window.result
    # Before: the difference of the two raw readings, -5,000 J for the reset and -1.8e13 J for the wrap.
    # After the reset the counter restarted from 0: what it counted since is kept, the sampler's last reading
    # before it (at most 50 ms of 300 W) is the most that can be lost.
    since_reset = 300.0 * (result.duration_s - 0.3)
    assert since_reset - 1.0 < result.energy_j["gpu:0"] <= 300.0 * result.duration_s * 1.03
    assert result.energy_j["gpu:0"] == pytest.approx(300.0 * result.duration_s, abs=300.0 * 0.05 + 6.0)
    assert result.energy_j["gpu:1"] == pytest.approx(100.0 * result.duration_s, rel=0.05)
    assert any("gpu:0: energy counter reset" in w for w in result.warnings)
    assert not any(w.startswith("gpu:1") for w in result.warnings)  # a wrap is not a reset


def test_a_window_shorter_than_the_counter_step_is_estimated_from_the_agent_s_power():
    # A 50 ms prefill under a 100 ms counter step read 0 J (10 of 10 times) before: the agent's power readings
    # were ignored. Now it is estimated from them and says so.
    clock = WallClock()
    gpu = FakeGpu(0, "GPU-a", schedule=[(0.0, 400.0)], counter_period_s=0.1)
    with _serving([gpu], clock) as url:
        meter = make_meter("auto", meter_url=url, sampler_hz=None)
        for _ in range(3):
            with meter.window("prefill") as window:
                time.sleep(0.05)
            result = window.result
            assert result.method["gpu:0"] == "remote_agent_power_estimate"
            # The agent's two readings bracket the window (each taken when its request arrived there).
            assert result.energy_j["gpu:0"] == pytest.approx(400.0 * result.duration_s, rel=0.25)
            assert any("shorter than the energy counter" in w for w in result.warnings)


def test_an_unreachable_agent_is_a_reason_not_an_error():
    meter = make_meter("auto", meter_url="http://127.0.0.1:9/v1", sampler_hz=None)
    assert not meter.sources and "did not answer" in meter.unavailable()["gpu"]


def test_batch_against_a_server_with_meter_url_has_gpu_energy(agent, tmp_path: Path):
    url, _ = agent
    models = models_csv(tmp_path / "m.csv", [("Qwen/Qwen2.5-7B-Instruct", "A", "Off (N/A)")])
    prompts = prompts_jsonl(tmp_path / "p.jsonl", [f"q {i}" for i in range(3)])
    server = StreamingServer(ttft_s=0.05, itl_s=0.02, tokens=8)
    out = tmp_path / "out"
    try:
        code = main(["batch", "--models-csv", str(models), "--prompts-file", str(prompts), "--num-prompts", "3",
                     "--backend", "openai", "--endpoint", server.url, "--meter-url", url, "--output-dir", str(out),
                     "--idle-seconds", "0.2", "--max-new-tokens", "8"])  # fmt: skip
    finally:
        server.close()
    assert code == 0
    with open(out / "master_results.csv", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    duration_s = float(row["total_duration_seconds"])
    assert float(row["gpu_energy_wh"]) * 3600 == pytest.approx(400.0 * duration_s, rel=0.1)
    assert row["energy_method"] == "remote_agent_nvml_counter"


def test_a_wattbot_run_against_a_server_elsewhere_with_meter_url_has_a_gpu_headline(
    agent, wattbot: Path, tmp_path: Path, monkeypatch
):
    import json

    from fakes.servers import OK_BODY, ScriptedServer
    from fakes.workspace import QUESTION_IDS, make_workspace
    from wattbench.energy import devices
    from wattbench.runs.checks import load_run_config
    from wattbench.runs.wattbot import run_experiment

    url, _ = agent
    root = make_workspace(wattbot, tmp_path)
    server = ScriptedServer([], default=(200, json.dumps(OK_BODY), {}, 0.15))
    # The server stands for one on the agent's host: this machine is not where the model runs.
    monkeypatch.setattr(devices, "is_local_url", lambda address: False)
    overrides = {"provider": "openai", "model": "served", "generation.base_url": server.url,
                 "energy.meter_url": url, "energy.grid_intensity_g_per_kwh": 400.0}  # fmt: skip
    try:
        config, _ = load_run_config(root / "run.toml", overrides)
        result = run_experiment(config, data_dir=root / "data")
    finally:
        server.close()
    energy = result.summary["energy"]
    # Before: scope, questions and CO2e were null ("the model runs on another machine").
    assert energy["scope"] == "gpu" and energy["co2e_scope"] == "gpu"
    questions = energy["questions"]
    assert questions["answered"] == len(QUESTION_IDS) and questions["energy_j"] > 0
    # GPUs 0 and 1 of the agent draw 300 + 100 W; each question's window is at least its 0.15 s answer.
    assert questions["energy_j"] >= 400.0 * 0.15 * len(QUESTION_IDS) * 0.95
    assert energy["co2e_g"] == pytest.approx(energy["by_kind_wh"]["gpu"] / 1000 * 400.0)
    assert energy["total_j"] is None and "not its CPU" in energy["total_unavailable"]
    assert result.summary["backend"]["measured_devices"]["metered_remotely"] is True


def test_meter_serve_without_nvml_or_with_bad_gpus_is_one_line_exit_2(capsys):
    assert main(["meter", "serve", "--gpus", "x"]) == 2
    assert "--gpus 'x'" in capsys.readouterr().err
    assert main(["meter", "serve", "--gpus", "0", "--port", "0"]) == 2  # this machine has no NVML
    assert "meter serve:" in capsys.readouterr().err


def _raw(url: str, data: bytes, read_timeout_s: float = 5.0) -> bytes:
    """Send raw bytes to the agent and read what it answers until it closes or goes quiet."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=read_timeout_s) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n", b"400"),  # a TLS hello sent to the plain agent
        (b"GET /v1/readings HTTP/9.9\r\n\r\n", b"505"),
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET /v1/readings HTTP/1.1\r\nx-long: " + b"b" * 70_000 + b"\r\n\r\n", b"431"),
        (b"GET /v1/readings HTTP/1.1\r\n" + b"".join(b"x-%d: 1\r\n" % i for i in range(150)) + b"\r\n", b"431"),
        (b"DELETE /v1/readings HTTP/1.1\r\n\r\n", b"405"),
    ],
)
def test_malformed_requests_get_a_status_and_no_traceback(agent, capfd, request_bytes, status):
    url, _ = agent
    answer = _raw(url, request_bytes)
    assert answer.split(b" ")[1] == status, answer[:200]
    time.sleep(0.1)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "AttributeError" not in err
    # The agent still answers a well-formed request afterwards.
    assert b'"gpus"' in _raw(url, b"GET /v1/readings HTTP/1.1\r\nconnection: close\r\n\r\n")


def test_escape_sequences_in_a_path_are_logged_escaped(agent, capfd):
    url, _ = agent
    _raw(url, b"GET /\x1b[31mred\x1b[0m\r\nforged HTTP/1.1\r\nconnection: close\r\n\r\n")
    _raw(url, b"GET /\x1b]0;title\x07x HTTP/1.1\r\nconnection: close\r\n\r\n")
    time.sleep(0.1)
    err = capfd.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert "\\x1b" in err and "404" in err


def test_idle_connections_are_closed_and_threads_bounded(agent, monkeypatch):
    import socket
    from urllib.parse import urlsplit

    url, server = agent
    parts = urlsplit(url)
    handler = server.RequestHandlerClass
    monkeypatch.setattr(handler, "timeout", 1.0)
    before = threading.active_count()
    idle = [socket.create_connection((parts.hostname, parts.port), timeout=5) for _ in range(60)]
    try:
        time.sleep(0.5)
        from wattbench.energy.agent import MAX_CONNECTIONS

        assert threading.active_count() - before <= MAX_CONNECTIONS
        # Past the bound, a connection is answered 503 at once rather than queued behind idle ones.
        assert b" 503 " in idle[-1].recv(200)
        # The idle ones are closed after the timeout: recv returns b"" (end of stream) instead of hanging.
        started = time.monotonic()
        assert idle[0].recv(10) == b""
        assert time.monotonic() - started < 3.0
        time.sleep(0.5)
        assert threading.active_count() - before <= 1
        assert b'"gpus"' in _raw(url, b"GET /v1/readings HTTP/1.1\r\nconnection: close\r\n\r\n")
    finally:
        for sock in idle:
            sock.close()


def test_run_and_load_take_the_engine_s_gpus_with_gpus(wattbot: Path, tmp_path: Path, capsys):
    """The methods name `--gpus` for a server on this machine (energy/devices.py says so when it is missing);
    `run` and `load` had no such flag."""
    import json

    from fakes.servers import OK_BODY, ScriptedServer
    from fakes.workspace import make_workspace

    root = make_workspace(wattbot, tmp_path)
    server = ScriptedServer([], default=(200, json.dumps(OK_BODY), {}, 0.0))
    try:
        code = main(["run", "--config", str(root / "run.toml"), "--data-dir", str(root / "data"), "--quiet",
                     "--provider", "openai", "--model", "served", "--base-url", server.url, "--gpus", "0,2",
                     "--name", "on-gpus"])  # fmt: skip
    finally:
        server.close()
    assert code == 0, capsys.readouterr().err
    summary = json.loads((root / "runs" / "on-gpus" / "summary.json").read_text())
    assert summary["backend"]["measured_devices"]["gpus"] == [0, 2]
    assert summary["config"]["generation"]["gpus"] == [0, 2]
    for command in (["run", "--config", str(root / "run.toml")], ["load", "--batch-sizes", "1"]):
        capsys.readouterr()
        assert main([*command, "--gpus", "0,x"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--gpus '0,x': give NVML indices" in err[0]
