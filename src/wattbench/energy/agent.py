"""`wattbench meter serve`: a read-only HTTP agent on a GPU host that answers the energy counters and instantaneous
power of the GPUs it is told to serve, so a run against a server on that host gets GPU energy (energy/remote.py).

GET /v1/readings answers {"agent_clock_s", "gpus": [{"index", "name", "energy_j", "power_w", "power_kind"}]},
each reading taken when the request arrives, by the agent's own clock. GET /v1/health answers the served GPUs.
Nothing can be changed through it. It binds to 127.0.0.1 unless told otherwise, and on any other address it
requires a bearer token, read from a file or from $WATTBENCH_METER_TOKEN (never from the command line, where
other users of the host could read it, and never logged: the access log names the path and the status only).
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from wattbench.errors import ConfigError

TOKEN_ENV = "WATTBENCH_METER_TOKEN"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def read_token(token_file: Path | None) -> str | None:
    """The token from the file (first line) or the environment; None when neither holds one."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, IndexError):
            raise ConfigError(f"{token_file}: cannot read a token from it; write the token on its first line") from None
        if not token:
            raise ConfigError(f"{token_file}: its first line is empty; write the token there")
        return token
    return os.environ.get(TOKEN_ENV) or None


class Readings:
    """The served GPUs' counters through NVML (a fake in tests)."""

    def __init__(self, nvml: Any, gpu_indices: list[int]) -> None:
        from wattbench.energy.nvml import read_power_w

        self.nvml, self.indices, self._power = nvml, list(gpu_indices), read_power_w
        self.handles = {i: nvml.nvmlDeviceGetHandleByIndex(i) for i in self.indices}
        self._lock = threading.Lock()

    def _name(self, handle: Any) -> str:
        name = self.nvml.nvmlDeviceGetName(handle)
        return name.decode() if isinstance(name, bytes) else str(name)

    def read(self) -> dict[str, Any]:
        with self._lock:
            gpus = []
            for index, handle in self.handles.items():
                try:
                    energy_j: float | None = self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
                except Exception:  # no counter on this GPU (pre-Volta): power only
                    energy_j = None
                power_w, kind = self._power(self.nvml, handle)
                gpus.append({"index": index, "name": self._name(handle), "energy_j": energy_j, "power_w": power_w,
                             "power_kind": kind})  # fmt: skip
            return {"agent_clock_s": time.monotonic(), "gpus": gpus}


def make_server(readings: Readings, host: str, port: int, token: str | None) -> ThreadingHTTPServer:
    if host not in LOOPBACK and not token:
        raise ConfigError(f"meter serve --host {host}: an agent reachable from other machines needs a token; put it "
                          f"in a file (--token-file) or in ${TOKEN_ENV}")  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if token is not None:
                given = self.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    self._send(401, {"error": "missing or wrong token"})
                    return
            if self.path == "/v1/readings":
                self._send(200, readings.read())
            elif self.path == "/v1/health":
                self._send(200, {"gpus": readings.indices})
            else:
                self._send(404, {"error": "read-only agent: GET /v1/readings or /v1/health"})

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
            # The request line and status only: headers (and so the token) are never written.
            sys.stderr.write(
                f"meter agent: {self.command} {self.path.split('?')[0]} {args[1] if len(args) > 1 else ''}\n"
            )

    return ThreadingHTTPServer((host, port), Handler)


def serve(gpu_indices: list[int], host: str, port: int, token_file: Path | None, nvml: Any = None) -> None:
    """Run the agent until interrupted."""
    from wattbench.energy.nvml import NvmlUnavailable, load_nvml

    token = read_token(token_file)
    try:
        nvml = nvml or load_nvml()
    except NvmlUnavailable as exc:
        raise ConfigError(f"meter serve: {exc}") from None
    server = make_server(Readings(nvml, gpu_indices), host, port, token)
    guarded = "with a token" if token else "without a token (loopback only)"
    print(f"meter agent: serving GPUs {gpu_indices} on http://{host}:{server.server_address[1]}/v1 {guarded}",
          flush=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
