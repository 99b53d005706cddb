"""`wattbench benchmark`: passed, failed, skipped and timed-out configs, with a server that never answers."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from fakes.store import write_run
from fakes.workspace import make_workspace
from wattbench.cli import main

pytestmark = pytest.mark.slow


class _SilentServer:
    """Accepts connections on 127.0.0.1 and never answers: a server that hangs mid-request."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def closed_by_peer(self, conn: socket.socket, wait_s: float = 5.0) -> bool:
        conn.settimeout(wait_s)
        try:
            while conn.recv(65536):  # drain the request; b"" means the client's end is gone
                pass
            return True
        except (TimeoutError, ConnectionResetError) as exc:
            return isinstance(exc, ConnectionResetError)

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


def test_benchmark_pass_fail_skip_and_a_hang_killed_by_the_timeout(wattbot: Path, tmp_path: Path, capsys, monkeypatch):
    root = make_workspace(wattbot, tmp_path)
    runs, configs = root / "runs", root / "configs"
    configs.mkdir()
    base = (root / "run.toml").read_text()
    (configs / "good.toml").write_text('name = "good"\n' + base)
    server = _SilentServer()
    hang = base.replace("[retrieval]\n", '[retrieval]\nmethod = "bm25"\n')
    (configs / "hang.toml").write_text(
        f'name = "hang"\nprovider = "openai"\nmodel = "gpt-4o-mini"\n{hang}'
        f'[generation]\nbase_url = "http://127.0.0.1:{server.port}/v1"\n'
    )
    (configs / "typo.toml").write_text('name = "typo"\nprovider = "llamacp"\n' + base)
    (configs / "broken.toml").write_text("name = [unclosed\n")
    (configs / "done.toml").write_text('name = "done"\n' + base)
    write_run(runs, "done-smoke", wattbot / "train_QA.csv", correct=5)  # complete: skipped
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    common = ["benchmark", "--configs", str(configs), "--smoke-test", "--data-dir", str(root / "data")]
    # The real runs keep the default 30-minute limit, so a loaded CI machine cannot time them out.
    logs = root / "logs"
    assert main([*common, "--log-dir", str(logs), "--model", "good", "typo", "broken", "done", "nope"]) == 1
    out = capsys.readouterr().out
    summary = json.loads((logs / "summary.json").read_text())
    by_name = {c["name"] or c["config"]: c for c in summary["configs"]}
    assert summary["counts"] == {"passed": 1, "failed": 2, "skipped": 2, "timed_out": 0, "interrupted": 0}
    assert "1 passed, 2 failed, 2 skipped, 0 timed-out, 0 interrupted" in out
    assert by_name["good-smoke"]["status"] == "passed"
    assert json.loads((runs / "good-smoke" / "summary.json").read_text())["num_questions"] == 1
    # An unknown provider is found when the config loads, with the near miss, before any run starts.
    typo = next(c for c in summary["configs"] if c["config"].endswith("typo.toml"))
    assert typo["status"] == "failed" and "config does not load" in typo["reason"]
    assert "unknown backend 'llamacp'" in typo["reason"] and "did you mean 'llamacpp'" in typo["reason"]
    broken = next(c for c in summary["configs"] if c["config"].endswith("broken.toml"))
    assert "config does not load" in broken["reason"]
    assert by_name["done-smoke"]["reason"] == "run is complete (--force to redo)"
    assert by_name["nope"]["status"] == "skipped"

    hang_logs = root / "hang-logs"
    try:
        code = main([*common, "--log-dir", str(hang_logs), "--model", "hang", "--timeout-min", "0.5"])
        assert code == 1, capsys.readouterr().out
        assert server.connections, "the hanging run never reached the server"
        assert server.closed_by_peer(server.connections[0])  # the killed run's socket is gone
    finally:
        server.close()
    (hung,) = json.loads((hang_logs / "summary.json").read_text())["configs"]
    assert hung["status"] == "timed_out" and hung["reason"] == "killed after 0.5 min"
    assert 30 <= hung["duration_s"] < 30 + 15  # the limit fired; SIGTERM was enough
    with pytest.raises(ProcessLookupError):
        os.killpg(hung["pid"], 0)  # nothing of its process group is left
    assert main(["benchmark", "--configs", str(root / "missing")]) == 2
