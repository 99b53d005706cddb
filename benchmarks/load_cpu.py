"""Load sweep and streaming overhead on this machine: SmolLM2-135M-Instruct (Q4_1 GGUF) behind a local
`llama_cpp.server`, and in process.

1. `wattbench load` at B = 1, 2, 4 against the server: output tokens/s in the steady window, TTFT and TPOT
   percentiles (energy is unavailable on a machine without NVML).
2. Streaming overhead: the same requests streamed and not, against the server (output tokens/s over the whole
   batch), and llama.cpp in process with and without the per-token stamps wattbench takes.
Run: python benchmarks/load_cpu.py [--requests 16] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from wattbench.backends.base import GenerationRequest
from wattbench.backends.llamacpp import default_gguf
from wattbench.backends.registry import create_backend
from wattbench.cli import main as cli

PROMPTS = ["Explain what a data centre's PUE measures.", "Why do GPUs draw more power at larger batch sizes?",
           "Name three ways to cut the energy of LLM inference.", "What is a kilowatt-hour?"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(gguf: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                             "--port", str(port), "--model_alias", "smollm2", "--n_ctx", "2048",
                             "--interrupt_requests", "False"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("llama_cpp.server did not start")


def _requests(n: int, tokens: int) -> list[GenerationRequest]:
    return [GenerationRequest(messages=[{"role": "user", "content": PROMPTS[i % 4]}], max_tokens=tokens,
                              min_tokens=tokens) for i in range(n)]  # fmt: skip


def tokens_per_s(backend, n: int, tokens: int, repeats: int = 3) -> float:
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = backend.generate(_requests(n, tokens))
        rates.append(sum(c.completion_tokens or 0 for c in done) / (time.perf_counter() - started))
    return statistics.median(rates)


def in_process_overhead(n: int, tokens: int) -> tuple[float, float]:
    """llama.cpp in process: wattbench's stamped path against a bare create_completion with no processor."""
    backend = create_backend("llamacpp")
    llm = backend._llm
    stamped = tokens_per_s(backend, n, tokens)
    rates = []
    for _ in range(3):
        started, count = time.perf_counter(), 0
        for i in range(n):
            out = llm.create_chat_completion(messages=[{"role": "user", "content": PROMPTS[i % 4]}],
                                             max_tokens=tokens, temperature=0.0)  # fmt: skip
            count += out["usage"]["completion_tokens"]
        rates.append(count / (time.perf_counter() - started))
    backend.close()
    return stamped, statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    assert importlib.util.find_spec("llama_cpp") is not None
    proc, url = start_server(default_gguf())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "load.toml"
            config.write_text(f'provider = "openai"\nmodel = "smollm2"\n[generation]\nbase_url = "{url}"\n',
                              encoding="utf-8")  # fmt: skip
            prompts = Path(tmp) / "p.jsonl"
            prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS), encoding="utf-8")
            out = Path(tmp) / "load"
            cli(
                [
                    "load",
                    "--config",
                    str(config),
                    "--batch-sizes",
                    "1,2,4",
                    "--requests",
                    str(args.requests),
                    "--max-tokens",
                    str(args.max_tokens),
                    "--prompts-file",
                    str(prompts),
                    "--output-dir",
                    str(out),
                ]
            )
            points = json.loads((out / "load.json").read_text())["points"]
        streamed = tokens_per_s(
            create_backend("openai", model="smollm2", base_url=url, stream=True), 8, args.max_tokens
        )
        plain = tokens_per_s(create_backend("openai", model="smollm2", base_url=url, stream=False), 8, args.max_tokens)
    finally:
        proc.terminate()
        proc.wait()
    stamped, bare = in_process_overhead(8, args.max_tokens)
    print(f"machine: {platform.processor() or platform.machine()}, {platform.node()}")
    print("| B | requests | window s | tokens in window | tokens/s | TTFT p50 s | TTFT p99 s | TPOT p50 s | "
          "TPOT p99 s | GPU J/token |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")  # fmt: skip
    for p in points:
        print(f"| {p['batch_size']} | {p['requests']} | {p['window_s']:.2f} | {p['window_output_tokens']:.0f} | "
              f"{p['output_tokens_per_s']:.1f} | {p['ttft_p50_s']:.3f} | {p['ttft_p99_s']:.3f} | "
              f"{p['tpot_p50_s']:.4f} | {p['tpot_p99_s']:.4f} | n/a ({p['energy_unavailable'][:40]}) |")  # fmt: skip
    print(
        f"llama_cpp.server, 8 requests x {args.max_tokens} tokens: streamed {streamed:.1f} tokens/s, "
        f"not streamed {plain:.1f} tokens/s ({100 * (streamed / plain - 1):+.1f}%)"
    )
    print(
        f"llama.cpp in process: with per-token stamps {stamped:.1f} tokens/s, bare {bare:.1f} tokens/s "
        f"({100 * (stamped / bare - 1):+.1f}%)"
    )


if __name__ == "__main__":
    main()
