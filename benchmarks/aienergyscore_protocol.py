"""The AI Energy Score protocol on this machine: SmolLM2-135M-Instruct (Q4_1 GGUF, llama.cpp) over a synthetic
dataset shaped like EnergyStarAI/text_generation (20 rows of about 360 words in a `text` column).

Runs `wattbench batch --protocol aienergyscore` on it (the official warm-up, exactly 10 new tokens per answer,
batch size 1, greedy) and prints the time per prompt, the exact token counts and what the row records about its
comparability. On a CPU the row is "not comparable" (no GPU energy): the figures here are time and tokens.
Run: python benchmarks/aienergyscore_protocol.py [--num-prompts 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.energystar import write_dataset  # noqa: E402
from wattbench.cli import main as cli  # noqa: E402

MODELS_CSV = (
    ",Models to Add,Priority (1=hi),Class,Task,Reasoning State,Chat Template\n"
    "0,https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct,1,A,text_gen,Off (N/A),N/A (default)\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-prompts", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models.csv"
        models.write_text(MODELS_CSV, encoding="utf-8")
        dataset = write_dataset(Path(tmp) / "text_generation" / "train.parquet", args.num_prompts)
        out = Path(tmp) / "batch_results"
        started = time.perf_counter()
        code = cli(["batch", "--protocol", "aienergyscore", "--models-csv", str(models), "--prompts-file",
                    str(dataset), "--num-prompts", str(args.num_prompts), "--output-dir", str(out),
                    "--idle-seconds", "0"])  # fmt: skip
        wall_s = time.perf_counter() - started
        run = next((out / "individual_runs").iterdir())
        summary = json.loads((run / "summary.json").read_text())
        records = [json.loads(line) for line in (run / "prompts.jsonl").read_text().splitlines()]
    row = summary["results"]
    latencies = [r["latency_s"] for r in records]
    out_tokens = [r["completion_tokens"] for r in records]
    in_tokens = [r["prompt_tokens"] for r in records]
    print(f"machine: {platform.processor() or platform.machine()}, {platform.node()}; exit code {code}")
    done = f"{row['successful_prompts']}/{row['total_prompts']} prompts"
    print(f"protocol {row['protocol']}: {done}, status {row['status']}")
    print(f"output tokens per answer: {sorted(set(out_tokens))} (total {sum(out_tokens)})")
    print(f"input tokens per prompt: mean {statistics.mean(in_tokens):.0f}, min {min(in_tokens)}, max {max(in_tokens)}")
    print(f"time per prompt: mean {statistics.mean(latencies):.3f} s, p50 {statistics.median(latencies):.3f} s, "
          f"max {max(latencies):.3f} s; measured window {row['total_duration_seconds']:.2f} s")  # fmt: skip
    print(f"whole command (load, warm-up, run): {wall_s:.1f} s")
    print(f"warm-up: {summary['protocol']['warmup']}")
    print(f"comparable: {row['comparable']} ({row['not_comparable_reason']})")
    print(f"dataset: {summary['protocol']['dataset']['rows_in_file']} rows, sha256 {row['dataset_sha256'][:16]}...")


if __name__ == "__main__":
    main()
