"""The default run on this machine, and batched versus one-at-a-time generation on the hf backend.

1. Runs `wattbench run` (SmolLM2 through llama.cpp on the 41 train questions) in a fresh run dir and prints
   questions/min and the score from its summary.json.
2. Builds a small random Llama (hidden 256, 4 layers, tokenizer trained here) and generates 32 requests of
   32 tokens each through the hf backend, one at a time and in batches of 8, and prints the throughput ratio.
Run: python benchmarks/run_cpu.py [--limit N] [--hf-only]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wattbench.config import load_experiment_config  # noqa: E402
from wattbench.runs.wattbot import run_experiment  # noqa: E402


def hf_batching(data_dir: str | None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from fakes.tiny_model import build_tiny_llama
    from wattbench.backends.base import GenerationRequest
    from wattbench.backends.registry import create_backend
    from wattbench.data.paths import resolve_data_dir, wattbot_dir
    from wattbench.data.wattbot import load_questions

    questions = [q.question for q in load_questions(wattbot_dir(resolve_data_dir(data_dir)) / "train_QA.csv")]
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_llama(Path(tmp) / "tiny", questions * 5, hidden_size=256, layers=4, vocab_size=800)
        requests = [
            GenerationRequest(messages=[{"role": "user", "content": q}], max_tokens=32, min_tokens=32)
            for q in questions[:32]
        ]
        rates = {}
        for batch in (1, 8):
            backend = create_backend("hf", model=str(model), dtype="fp32", max_batch_size=batch)
            backend.generate(requests[:2])  # warm-up
            started = time.perf_counter()
            out = backend.generate(requests)
            seconds = time.perf_counter() - started
            rates[batch] = sum(c.completion_tokens for c in out) / seconds
            print(
                f"hf tiny Llama (hidden 256, 4 layers, fp32, CPU), batch {batch}: {len(out)} requests x 32 tokens "
                f"in {seconds:.2f} s = {rates[batch]:.0f} output tokens/s"
            )
        print(f"batched (8) / one at a time: {rates[8] / rates[1]:.2f}x throughput")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--hf-only", action="store_true", help="only the hf batching comparison")
    args = parser.parse_args()
    if args.hf_only:
        hf_batching(args.data_dir)
        return
    with tempfile.TemporaryDirectory() as tmp:
        config, _ = load_experiment_config(None, {"output_dir": tmp, "name": "bench", "limit": args.limit})
        started = time.perf_counter()
        summary = run_experiment(config, data_dir=args.data_dir).summary
        wall = time.perf_counter() - started
    timing, kaggle, lenient = summary["timing"], summary["scores"]["kaggle"], summary["scores"]["lenient"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    backend = summary["backend"]
    print(f"model: {backend['model_id']} ({backend['engine']} {backend['engine_version']})")
    print(f"questions: {summary['num_answered']}, wall {wall:.1f} s (incl. index and model load)")
    print(
        f"questions/min: {timing['questions_per_min']:.2f}; latency mean {timing['latency_s']['mean']:.2f} s, "
        f"p50 {timing['latency_s']['p50']:.2f} s, max {timing['latency_s']['max']:.2f} s"
    )
    print(f"tokens: {summary['input_tokens']} in, {summary['output_tokens']} out")
    print(
        f"score kaggle: overall {kaggle['overall']:.4f}, value {kaggle['value_accuracy']:.4f}, "
        f"ref {kaggle['ref_overlap']:.4f}, NA term {kaggle['na_term']:.4f}"
    )
    print(
        f"score lenient: overall {lenient['overall']:.4f}, value {lenient['value_accuracy']:.4f}, "
        f"NA recall {lenient['na_recall']:.4f}"
    )
    hf_batching(args.data_dir)


if __name__ == "__main__":
    main()
