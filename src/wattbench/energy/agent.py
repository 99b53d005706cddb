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


IDLE_TIMEOUT_S = 10.0
"""A connection that sends nothing for this long is closed (a reader polls once a window edge, never idles)."""
MAX_CONNECTIONS = 16
"""Connections served at once, one thread each; one more is answered 503 and closed at once."""
MAX_REQUEST_LINE = 8192
"""The longest request line read (the agent's paths are a few bytes); a longer one is answered 414."""


def printable(text: str) -> str:
    """`text` safe for a log line: control characters and non-ASCII written as escapes, so a crafted path cannot
    move the cursor, forge a line or colour a terminal."""
    return "".join(c if " " <= c < "\x7f" else c.encode("unicode_escape").decode("ascii") for c in text)


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most MAX_CONNECTIONS of them: an idle or slow client cannot grow the agent
    without bound."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog; socketserver's 5 would drop connections a burst brings

    def __init__(self, *args: Any, max_connections: int = MAX_CONNECTIONS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that vanished mid-request is not the agent's failure: one line, no traceback.
        error = sys.exc_info()[1]
        sys.stderr.write(f"meter agent: connection from {client_address[0]} ended: {type(error).__name__}\n")


def make_server(readings: Readings, host: str, port: int, token: str | None) -> ThreadingHTTPServer:
    if host not in LOOPBACK and not token:
        raise ConfigError(f"meter serve --host {host}: an agent reachable from other machines needs a token; put it "
                          f"in a file (--token-file) or in ${TOKEN_ENV}")  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        timeout = IDLE_TIMEOUT_S  # socket timeout: an idle keep-alive connection is closed, its thread freed
        protocol_version = "HTTP/1.1"
        default_request_version = "HTTP/1.0"  # a malformed request line still gets a status line, not bare HTML

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_one_request(self) -> None:
            # http.server reads request lines of up to 64 KiB; the agent's own are tiny, so a longer one is refused
            # before it is parsed.
            try:
                line = self.rfile.readline(MAX_REQUEST_LINE + 1)
            except TimeoutError:
                self.close_connection = True
                return
            if len(line) > MAX_REQUEST_LINE:
                self.requestline, self.request_version, self.command = "", self.default_request_version, ""
                self.send_error(414)
                self.close_connection = True
                return
            self.raw_requestline = line
            if not line:
                self.close_connection = True
                return
            if not self.parse_request():  # it has answered 400, 431 or 505 itself
                return
            method = getattr(self, f"do_{self.command}", None)
            if method is None:
                self.send_error(405 if self.command.isalpha() else 400)
                return
            method()
            self.wfile.flush()

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
            # The method, path and status only: headers (and so the token) are never written. A malformed request
            # may have no method or path yet.
            command = printable(getattr(self, "command", None) or "-")
            path = printable((getattr(self, "path", None) or "-").split("?")[0][:200])
            status = printable(str(args[1])) if len(args) > 1 else "-"  # log_request's (requestline, code, size)
            sys.stderr.write(f"meter agent: {command} {path} {status}\n")

        def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # send_error logs the status through log_message; the reason text may echo the raw request

    return BoundedServer((host, port), Handler)


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
