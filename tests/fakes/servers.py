"""A scripted OpenAI-compatible server on 127.0.0.1 that fails the ways real servers do: slow or hung replies,
429 with Retry-After, 5xx, refused keys, garbage. A real HTTP server, so the client's own timeouts are tested."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK_BODY = {
    "choices": [{"message": {"content": '{"answer_value": 4}'}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "completion_tokens_details": {"reasoning_tokens": 3}},
}


class ScriptedServer:
    """Answers each POST with the next scripted reply: (status, body, headers, delay_s), then `default`
    (a good answer unless given); GET /models answers `models` (status, body), 404 unless given."""

    def __init__(
        self,
        replies: list[tuple[int, str, dict[str, str], float]],
        *,
        default: tuple[int, str, dict[str, str], float] | None = None,
        models: tuple[int, str] = (404, "no such route"),
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
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
