"""A real two-node Ray cluster on this machine (a head and a second node, each started with `ray start` on
127.0.0.1 with its own resources), running a benchmark campaign; the second node is killed while it runs one of
the runs. Ray retries that task on the head, and the store ends with every run complete, each question once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes.servers import ScriptedServer
from fakes.workspace import make_workspace

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.slow

SLOW = (200, json.dumps({"choices": [{"message": {"content": '{"answer_value": 1}'}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 3, "completion_tokens": 4}}), {}, 1.0)  # fmt: skip


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ray(*args: str, env: dict[str, str]) -> None:
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    done = subprocess.run([ray, *args], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode:  # say why: ray's own last lines, not just the exit status
        raise RuntimeError(f"ray {args[0]} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")


@pytest.fixture
def cluster(tmp_path: Path):
    """(address, the second node's raylet process); both nodes are stopped afterwards."""
    # Token auth off on both nodes, said explicitly: with a ~/.ray/auth_token left by any earlier local
    # ray.init(), `ray start --head` turns token auth on while a joining node does not send the token.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "500",
           "RAY_health_check_failure_threshold": "4", "RAY_AUTH_MODE": "disabled"}  # fmt: skip
    port = _port()
    before = {p.pid for p in psutil.process_iter(["name"]) if "raylet" in (p.info["name"] or "")}
    _ray("start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1", "--num-gpus=0",
         '--resources={"head_node": 1}', "--include-dashboard=false", "--disable-usage-stats", env=env)  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        _ray("start", f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0",
             '--resources={"second_node": 1}', f"--node-manager-port={_port()}", f"--object-manager-port={_port()}",
             "--disable-usage-stats", env=env)  # fmt: skip
        raylets = [p for p in psutil.process_iter(["name", "cmdline"]) if "raylet" in (p.info["name"] or "")
                   and p.pid not in before]  # fmt: skip
        second = next(p for p in raylets if "second_node" in " ".join(p.info["cmdline"] or []))
        yield address, second
    finally:
        subprocess.run([shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray", "stop", "--force"],
                       env=env, capture_output=True, timeout=120)  # fmt: skip


def _runs_under(process) -> list:
    try:
        return [c for c in process.children(recursive=True) if " run " in " ".join(c.cmdline())]
    except psutil.Error:
        return []


def _run_name(process) -> str:
    """The run a `wattbench run` process runs: the name in the config it was given (its scratch copy)."""
    args = process.cmdline()
    config = Path(args[args.index("--config") + 1])
    return json.loads(config.read_text())["name"]  # the campaign ships it as JSON (which is YAML)


def test_a_campaign_survives_losing_a_node(cluster, wattbot: Path, tmp_path: Path):
    address, second = cluster
    root = make_workspace(wattbot, tmp_path)
    configs = root / "configs"
    configs.mkdir()
    servers = {name: ScriptedServer([], default=SLOW) for name in ("one", "two")}  # a server per run: who asked
    base = (root / "run.toml").read_text()
    for name, server in servers.items():
        (configs / f"{name}.toml").write_text(
            f'name = "{name}"\nprovider = "openai"\nmodel = "m"\n' + base + f'[generation]\nbase_url = "{server.url}"'
            "\nstream = false\n")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "HF_HUB_OFFLINE": "1",
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}  # fmt: skip
    driver = subprocess.Popen(
        [sys.executable, "-m", "wattbench", "benchmark", "--configs", str(configs), "--log-dir", str(root / "logs"),
         "--executor", "ray", "--ray-address", address, "--data-dir", str(root / "data")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not _runs_under(second) and time.monotonic() < deadline:  # a run is under way on the second node
            assert driver.poll() is None, driver.communicate()
            time.sleep(0.2)
        assert _runs_under(second), "no run was placed on the second node"
        there = _run_name(_runs_under(second)[0])
        while not servers[there].seen and time.monotonic() < deadline:
            time.sleep(0.1)  # it has answered a question there, which never reaches the store
        assert servers[there].seen
        for process in [second, *second.children(recursive=True)]:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        out, err = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
        for server in servers.values():
            server.close()
    assert driver.returncode == 0, out + err
    for name in ("one", "two"):
        records = [json.loads(line) for line in (root / "runs" / name / "results.jsonl").read_text().splitlines()]
        assert len(records) == 4 and len({r["id"] for r in records}) == 4, name  # none lost, none twice
        assert json.loads((root / "runs" / name / "summary.json").read_text())["status"] == "complete"
    assert len(servers[there].seen) > 4  # the lost node's answers were asked again on the head
    assert len(servers["two" if there == "one" else "one"].seen) == 4
