"""The default run on this machine: questions/min and score of SmolLM2 (llama.cpp) on the 41 train questions.

Runs `wattbench run` in a fresh run dir and prints the figures from its summary.json.
Run: python benchmarks/run_cpu.py [--limit N]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wattbench.config import load_experiment_config  # noqa: E402
from wattbench.runner.experiment import run_experiment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
