"""A local stand-in for the bedrock-runtime API on 127.0.0.1 (a double of AWS, not of wattbench): Converse
(`POST /model/{id}/converse`) answers from a script, and Titan embeddings (`POST /model/{id}/invoke`) return
bag-of-hashed-words vectors of the requested size. boto3 talks to it through `endpoint_url` with dummy
credentials; the stub keeps each request's headers, so a test can see what was signed and sent."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from fakes.servers import Served, _serve

ANSWER = json.dumps({"explanation": "from the stub", "answer_value": 42, "ref_id": ["strubell2019"]})


def hashed_vector(text: str, dim: int) -> list[float]:
    """Words hashed into `dim` buckets, L2-normalised: texts sharing words point the same way."""
    out = [0.0] * dim
    for word in text.lower().split():
        out[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    norm = math.sqrt(sum(v * v for v in out)) or 1.0
    return [v / norm for v in out]


class BedrockStub(Served):
    """`script`: what the next Converse calls do, in order ("ok", "throttle", "validation", "5xx", "hang"), then
    "ok" for ever. `answer`: the text of an ok reply. `hang_s`: how long a hung call sleeps before answering."""

    def __init__(self, script: list[str] | None = None, *, answer: str = ANSWER, hang_s: float = 5.0) -> None:
        self.script = list(script or [])
        self.calls: list[tuple[str, str, dict]] = []  # (operation, model id, body)
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.most_in_flight = 0  # Converse calls being answered at once
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: dict, error_type: str | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass  # the client gave up first (the hanging case)

            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                parts = self.path.split("?")[0].strip("/").split("/")
                at = parts.index("model")  # the stub's URL may carry a path before /model/{id}/{operation}
                model, operation = urllib.parse.unquote(parts[at + 1]), parts[at + 2]
                outer.calls.append((operation, model, body))
                outer.headers.append(dict(self.headers))
                if operation == "invoke":
                    dim = int(body.get("dimensions") or 1536)
                    text = body["inputText"]
                    return self._send(200, {"embedding": hashed_vector(text, dim),
                                            "inputTextTokenCount": len(text.split())})  # fmt: skip
                step = outer.script.pop(0) if outer.script else "ok"
                if step == "throttle":
                    return self._send(429, {"message": "Too many requests, please wait"}, "ThrottlingException")
                if step == "validation":
                    return self._send(400, {"message": "The model returned the following errors: bad input"},
                                      "ValidationException")  # fmt: skip
                if step == "5xx":
                    return self._send(500, {"message": "internal"}, "InternalServerException")
                if step == "hang":
                    with outer._lock:
                        outer.in_flight += 1
                        outer.most_in_flight = max(outer.most_in_flight, outer.in_flight)
                    time.sleep(hang_s)
                    with outer._lock:
                        outer.in_flight -= 1
                prompt = " ".join(c["text"] for m in body["messages"] for c in m["content"])
                words = answer.split()
                self._send(200, {
                    "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": len(prompt.split()), "outputTokens": len(words),
                              "totalTokens": len(prompt.split()) + len(words)},
                    "metrics": {"latencyMs": 3},
                })  # fmt: skip

            def log_message(self, *args) -> None:
                pass

        _serve(self, Handler)


def aws_env(monkeypatch, secret: str = "stub-secret-DO-NOT-LEAK-1234567890") -> str:
    """Dummy credentials in the environment (the AWS chain's first link), and no config file of the user's."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASTUBSTUBSTUB0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "stub-session-token-also-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    return secret
