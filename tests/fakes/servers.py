"""A scripted OpenAI-compatible server on 127.0.0.1 that fails the ways real servers do: slow or hung replies,
429 with Retry-After, 5xx, refused keys, garbage. A real HTTP server, so the client's own timeouts are tested."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OK_BODY = {
    "choices": [{"message": {"content": '{"answer_value": 4}'}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "completion_tokens_details": {"reasoning_tokens": 3}},
}


class Served:
    """A handler served on 127.0.0.1 on a free port, in a daemon thread, until `close()`."""

    httpd: ThreadingHTTPServer
    url: str

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ScriptedServer(Served):
    """Answers each POST with the next scripted reply: (status, body, headers, delay_s), then `default`
    (a good answer unless given); GET /models answers `models` (status, body), 404 unless given."""

    def __init__(
        self,
        replies: list[tuple[int, str, dict[str, str], float]],
        *,
        default: tuple[int, str, dict[str, str], float] | None = None,
        models: tuple[int, str] = (404, "no such route"),
        on_answer: Callable[[], None] | None = None,
    ) -> None:
        self.replies = list(replies)
        self.default = default or (200, json.dumps(OK_BODY), {}, 0)
        self.seen: list[tuple[dict[str, str], dict]] = []
        self.gets: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                length = int(self.headers.get("content-length", 0))
                server.seen.append((dict(self.headers), json.loads(self.rfile.read(length))))
                status, body, headers, delay = server.replies.pop(0) if server.replies else server.default
                time.sleep(delay)
                if on_answer is not None:
                    on_answer()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(body.encode())
                except BrokenPipeError:
                    pass  # the client timed out first, as the slow-reply case intends

            def do_GET(self) -> None:  # noqa: N802 — http.server's name
                server.gets.append(dict(self.headers))
                status, body = server.models
                self.send_response(status)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args) -> None:
                pass

        self.models = models
        _serve(self, Handler)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 resets connections when many requests arrive at once


def _serve(server: Served, handler: type[BaseHTTPRequestHandler]) -> None:
    server.httpd = _Server(("127.0.0.1", 0), handler)
    server.url = f"http://127.0.0.1:{server.httpd.server_address[1]}/v1"
    threading.Thread(target=server.httpd.serve_forever, daemon=True).start()


class TokenServer(ScriptedServer):
    """Answers as many tokens as the last message's last word says ('say 400'), at most `max_tokens` as a real
    server does, after `delay_s`; a message with 'fail' in it gets a 500. GET /models lists `model`. `on_answer`
    is called as each answer is computed, before it is sent (what the hardware did for it: a fake GPU's energy)."""

    def __init__(self, model: str, delay_s: float = 0.0, on_answer: Callable[[], None] | None = None) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 — http.server's name
                self._send(200, {"object": "list", "data": [{"id": model}]})

            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                payload = json.loads(self.rfile.read(int(self.headers["content-length"])))
                text = payload["messages"][-1]["content"]
                if "fail" in text:
                    self._send(500, {"error": "boom"})
                    return
                tokens = min(int(text.split()[-1]), int(payload.get("max_tokens") or 10**9))
                time.sleep(delay_s)
                if on_answer is not None:
                    on_answer()
                usage = {"prompt_tokens": 5, "completion_tokens": tokens}
                message = {"content": "x " * tokens}
                self._send(200, {"choices": [{"message": message, "finish_reason": "length"}], "usage": usage})

            def log_message(self, *args) -> None:
                pass

        _serve(self, Handler)


class CompletionServer(Served):
    """vLLM's plain-text completions as the AI Energy Score protocol uses them: each POST /completions answers
    exactly `max_tokens` tokens when `min_tokens` asks for that many (vLLM's extension), after `delay_s`.
    Every payload is kept, so a test can check what was sent."""

    def __init__(self, model: str, delay_s: float = 0.02) -> None:
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

            def do_GET(self) -> None:  # noqa: N802 — http.server's name
                self._send(200, {"object": "list", "data": [{"id": model}]})

            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                payload = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.payloads.append({"path": self.path, **payload})
                tokens = int(payload.get("min_tokens") or 3)
                time.sleep(delay_s)
                usage = {"prompt_tokens": len(str(payload.get("prompt", "")).split()), "completion_tokens": tokens}
                choice = {"text": "x " * tokens, "finish_reason": "length"}
                self._send(200, {"choices": [choice], "usage": usage})

            def log_message(self, *args) -> None:
                pass

        _serve(self, Handler)


class StreamingServer(Served):
    """Streams each chat reply as server-sent events on a script: the first chunk `ttft_s` after the request
    arrives, then one every `itl_s`, `tokens` tokens in all (`per_chunk` to a chunk), then a usage chunk (unless
    `usage=False`) and [DONE]. `cut_after` chunks ends the stream with no finish reason, as a server that cut it
    off; a request whose message holds "[cut]" gets all its tokens and is then cut off so (no finish reason, no
    usage). A request's own `max_tokens` wins over `tokens` when smaller."""

    def __init__(self, ttft_s: float, itl_s: float, tokens: int, *, per_chunk: int = 1, usage: bool = True,
                 cut_after: int | None = None, gpu: Any = None, answer: str | None = None) -> None:  # fmt: skip
        """`gpu`: a fake GPU told when each request arrives, has its first token, and is done (AdditiveGpu).
        `answer`: the text the chunks carry, spread over them (else "tok " per token)."""
        self.payloads: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _event(self, body: dict | str) -> None:
                data = body if isinstance(body, str) else json.dumps(body)
                chunk = f"data: {data}\n\n".encode()
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()

            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                payload = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.payloads.append(payload)
                total = min(tokens, int(payload.get("max_tokens") or tokens))
                marked = "[cut]" in json.dumps(payload.get("messages"))
                last = (payload.get("messages") or [{}])[-1].get("content", "")
                index = gpu.arrive(str(last)) if gpu is not None else None
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                self._event({"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]})
                sent, chunks = 0, 0
                time.sleep(ttft_s)
                while sent < total:
                    if cut_after is not None and chunks == cut_after:
                        break
                    if chunks:
                        time.sleep(itl_s)
                    n = min(per_chunk, total - sent)
                    if not chunks and gpu is not None:
                        gpu.first(index)
                    sent, chunks = sent + n, chunks + 1
                    reason = "length" if sent == total and not marked else None
                    if answer is None:
                        text = "tok " * n
                    else:
                        text = answer[(sent - n) * len(answer) // total : sent * len(answer) // total]
                    self._event({"choices": [{"delta": {"content": text}, "finish_reason": reason}]})
                if gpu is not None:
                    gpu.done(index)
                if usage and not marked and (cut_after is None or sent == total):
                    self._event({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": sent}})
                self._event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def log_message(self, *args) -> None:
                pass

        _serve(self, Handler)


class SilentServer:
    """Accepts every connection on 127.0.0.1, reads what is sent, and never writes a byte: a hung proxy or a server
    stuck before its first response. Connections are held until `close()` (at most `hold_s`)."""

    def __init__(self, hold_s: float = 300.0) -> None:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self.accepted = 0
        self._held: list = []
        self._stop = threading.Event()
        self._hold_s = hold_s
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < self._hold_s:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._held.append(conn)  # never answered; read nothing either (the request sits in the buffer)

    def close(self) -> None:
        self._stop.set()
        for conn in self._held:
            conn.close()
        self._sock.close()
