"""Wall time of N real SmolLM2 WattBot runs (llama.cpp, CPU) one after another vs side by side on CPU slots.

Each run is a `wattbench run` subprocess answering the first Q train questions with hybrid retrieval over the
full corpus. The index (default: the project's artifacts/index/wattbot.sqlite) is built, if missing, by an
untimed warm-up run. Inline, each run gets every core (llama.cpp's default);
with `--executor local --slots S`, each run gets cores/S threads. Prints both wall times, the ratio, and each
run's own duration.
Run: python benchmarks/parallel.py [--runs 4] [--slots 2] [--questions 5] [--index FILE] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from wattbench.campaigns.benchmark import counts, plan_benchmark, run_benchmark
from wattbench.campaigns.jobs import Campaign
from wattbench.data.paths import resolve_data_dir, wattbot_dir
from wattbench.executors.registry import ExecutorChoice


def write_configs(root: Path, runs: int, questions: int, index: Path, out: Path, tag: str) -> Path:
    configs = root / f"configs-{tag}"
    configs.mkdir()
    for i in range(runs):
        (configs / f"r{i}.toml").write_text(
            f'name = "{tag}-r{i}"\nlimit = {questions}\noutput_dir = "{out}"\n'
            f'[retrieval]\nindex_path = "{index}"\n[energy]\nidle_seconds = 0\n'
        )
    return configs


def timed(configs: Path, choice: ExecutorChoice, logs: Path, data_dir: Path) -> tuple[float, list]:
    plan = plan_benchmark(configs)
    started = time.perf_counter()
    outcomes = run_benchmark(plan, Campaign(choice, logs, data_dir, timeout_s=3600))
    wall_s = time.perf_counter() - started
    tally = counts(outcomes)
    if tally["passed"] != len(plan.to_run):
        raise SystemExit(f"{choice.name}: {tally}; logs in {logs}")
    return wall_s, outcomes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--index", type=Path, default=Path("artifacts/index/wattbot.sqlite"))
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    wattbot_dir(data_dir)  # a clear error when the data is missing
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}; {args.runs} runs x {args.questions} questions, SmolLM2-135M Q4_1")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        index = args.index.resolve()
        warm = write_configs(root, 1, 1, index, root / "warm", "warm")
        timed(warm, ExecutorChoice("inline"), root / "logs-warm", data_dir)  # builds the index, warms the caches
        results = {}
        for tag, choice in (("inline", ExecutorChoice("inline")),
                            ("local", ExecutorChoice("local", cpu_slots=args.slots))):  # fmt: skip
            configs = write_configs(root, args.runs, args.questions, index, root / f"runs-{tag}", tag)
            results[tag] = timed(configs, choice, root / f"logs-{tag}", data_dir)
            wall_s, outcomes = results[tag]
            each = ", ".join(f"{o.duration_s:.1f}" for o in outcomes)
            print(f"{tag:<7} wall {wall_s:7.1f} s; per run (s): {each}", file=sys.stdout, flush=True)
        ratio = results["inline"][0] / results["local"][0]
        print(f"inline / local ({args.slots} slots) = {ratio:.2f}x")


if __name__ == "__main__":
    main()
