"""The batch runner on this machine: SmolLM2-135M-Instruct (Q4_1 GGUF, llama.cpp) on 20 published prompts.

Writes a one-row models CSV, runs `run_batch` (5 warmup prompts, then 20 measured prompts at a fixed output
length) in a temporary results folder, and prints prompts/s, output tokens/s, latency and time to first token from
the master row and the per-prompt records.
Run: python benchmarks/batch_cpu.py [--num-prompts 20] [--max-new-tokens 128] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from pathlib import Path

from wattbench.campaigns.batch import run_batch
from wattbench.config import BatchConfig, EnergyConfig
from wattbench.data.models_csv import load_plan
from wattbench.data.paths import resolve_data_dir
from wattbench.data.prompts import load_prompts
from wattbench.store.schema import PromptRecord

MODELS_CSV = (
    ",Models to Add,Priority (1=hi),Class,Task,Reasoning State,Chat Template\n"
    "0,https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct,1,A,text_gen,Off (N/A),N/A (default)\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-prompts", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    prompts = load_prompts(resolve_data_dir(args.data_dir) / "energy_score" / "prompts.csv", limit=args.num_prompts)
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models.csv"
        models.write_text(MODELS_CSV, encoding="utf-8")
        config = BatchConfig(
            num_prompts=args.num_prompts,
            max_new_tokens=args.max_new_tokens,
            output_dir=str(Path(tmp) / "batch_results"),
            energy=EnergyConfig(meter="auto", idle_seconds=0),
        )
        outcome = run_batch(config, load_plan(models, config.max_new_tokens), prompts)
        row = outcome.rows[0]
        run = next(Path(config.output_dir, "individual_runs").iterdir())
        lines = (run / "prompts.jsonl").read_text().splitlines()
        records = [PromptRecord.model_validate(json.loads(line)) for line in lines]
    duration = row.total_duration_seconds
    ttfts = [r.ttft_s for r in records if r.ttft_s is not None]
    latencies = [r.latency_s or 0.0 for r in records]
    print(f"machine: {platform.processor() or platform.machine()}, {platform.node()}")
    print(f"status {row.status}: {row.successful_prompts}/{row.total_prompts} prompts, "
          f"{row.total_prompt_tokens} prompt tokens, {row.total_completion_tokens} output tokens "
          f"(exactly {args.max_new_tokens} each)")  # fmt: skip
    print(f"measured window: {duration:.2f} s")
    print(f"prompts/s: {row.successful_prompts / duration:.3f}")
    print(f"output tokens/s: {row.throughput_tokens_per_second:.1f}")
    print(f"latency per prompt: mean {row.avg_latency_seconds:.2f} s, "
          f"p50 {statistics.median(latencies):.2f} s, "
          f"max {max(latencies):.2f} s")  # fmt: skip
    if ttfts:
        print(f"time to first token: p50 {statistics.median(ttfts):.3f} s, max {max(ttfts):.3f} s")
    print(f"energy: gpu {row.gpu_energy_wh} Wh, cpu {row.cpu_energy_wh} Wh (empty: not measurable here)")


if __name__ == "__main__":
    main()
