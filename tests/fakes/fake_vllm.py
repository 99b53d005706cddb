"""Stands in for the `vllm` executable (`vllm serve MODEL --host H --port P ...`): a double of the external
program, not of wattbench. FAKE_VLLM_MODE: ok | crash | stall | wrong-model. In ok mode it serves /health,
/v1/models and /v1/chat/completions after a short start-up (streamed, with FAKE_VLLM_STREAM set, as vLLM
streams: FAKE_VLLM_TTFT_S before the first token, FAKE_VLLM_ITL_S between tokens), and keeps a child process (as
vLLM's engine workers do) so that stopping the whole process group can be checked. FAKE_VLLM_ARGS: a file that
gets each start's arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    args = sys.argv[1:]
    assert args[0] == "serve", args
    model = args[1]
    host, port = args[args.index("--host") + 1], int(args[args.index("--port") + 1])
    mode = os.environ.get("FAKE_VLLM_MODE", "ok")
    print(
        f"INFO fake vllm {mode}: serving {model} on {host}:{port}, CUDA_VISIBLE_DEVICES="
        f"{os.environ.get('CUDA_VISIBLE_DEVICES')}",
        flush=True,
    )
    if mode == "crash":
        time.sleep(0.3)
        print("ERROR torch.OutOfMemoryError: CUDA out of memory", flush=True)
        sys.exit(3)
    if mode == "stall":
        time.sleep(3600)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    with open(os.environ["FAKE_VLLM_PIDS"], "w") as handle:
        handle.write(f"{os.getpid()} {worker.pid}\n")
    if os.environ.get("FAKE_VLLM_ARGS"):  # every start's command line, one per line (load sweeps restart it)
        with open(os.environ["FAKE_VLLM_ARGS"], "a") as handle:
            handle.write(" ".join(args) + "\n")
    served = "some/other-model" if mode == "wrong-model" else model
    time.sleep(0.5)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/health":
                self._send(200, {})
            elif self.path == "/v1/models":
                self._send(200, {"data": [{"id": served}]})
            else:
                self._send(404, {})

        def _stream(self, text: str, completion_tokens: int) -> None:
            # As vLLM streams: a role chunk, the text in `completion_tokens` deltas, then the usage chunk.
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            self._event({"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]})
            text = text.ljust(completion_tokens)  # trailing blanks keep the JSON valid
            cuts = [i * len(text) // completion_tokens for i in range(completion_tokens + 1)]
            pieces = [text[a:b] for a, b in zip(cuts, cuts[1:])]
            time.sleep(float(os.environ.get("FAKE_VLLM_TTFT_S", "0")))
            for i, piece in enumerate(pieces):
                if i:
                    time.sleep(float(os.environ.get("FAKE_VLLM_ITL_S", "0")))
                reason = "stop" if i == len(pieces) - 1 else None
                self._event({"choices": [{"delta": {"content": piece}, "finish_reason": reason}]})
            self._event({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": completion_tokens}})
            self._event("[DONE]")

        def _event(self, body: dict | str) -> None:
            self.wfile.write(f"data: {body if isinstance(body, str) else json.dumps(body)}\n\n".encode())
            self.wfile.flush()

        def do_POST(self) -> None:  # noqa: N802
            request = json.loads(self.rfile.read(int(self.headers["content-length"])))
            text = json.dumps({"answer_value": 42, "echo": request["messages"][-1]["content"][:20]})
            if request.get("stream") and os.environ.get("FAKE_VLLM_STREAM"):
                return self._stream(text, request.get("min_tokens") or 5)
            self._send(
                200,
                {
                    "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 9, "completion_tokens": request.get("min_tokens") or 5},
                },
            )

        def log_message(self, *a) -> None:
            print("INFO request", *a, flush=True)

    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
