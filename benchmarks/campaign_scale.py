"""A campaign of many runs (issue 36): how `audit`, `matrix`, `compare --baseline`, `plot` and `report` grow with
the number of runs, in wall time and peak memory (each command a fresh process, its own max RSS from wait4).

The store is built from scripted records (tests/fakes/store.write_run), not model runs: N runs over a
282-question solution (the train questions' rows repeated under new ids, the size of the WattBot test set), each
run right on a share of questions that grows with its index, with GPU energy and latency per question.

    python benchmarks/campaign_scale.py [--sizes 100,300,1000] [--data-dir DIR] [--commands audit,plot,...]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.store import read_solution, write_run  # noqa: E402

QUESTIONS = 282
COMMANDS = ("audit", "matrix", "compare", "plot", "report")


def write_solution(train: Path, out: Path, n: int = QUESTIONS) -> Path:
    """`n` solution rows: the train questions' rows, repeated under new ids."""
    rows = read_solution(train)
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for i in range(n):
            writer.writerow(rows[i % len(rows)] | {"id": f"t{i:04d}"})
    return out


def build_store(runs: Path, solution: Path, n: int, start: int = 0) -> None:
    """Runs run-{start}..run-{n-1} (a store grown from a smaller one keeps its runs)."""
    for i in range(start, n):
        rng = random.Random(i)
        right = [rng.random() < 0.2 + 0.5 * (i % 1000) / 1000 for _ in range(QUESTIONS)]
        write_run(
            runs, f"run-{i:04d}", solution, correct=0, right=right, params=(1 + i % 50) * 100_000_000,
            latency_s=1.0 + (i % 9) / 10, gpu_wh_per_question=0.01 * (1 + i % 7),
            question_energy_j=[36.0 * (1 + i % 7) * rng.uniform(0.8, 1.2) for _ in range(QUESTIONS)],
        )  # fmt: skip


def timed(args: list[str]) -> tuple[float, float, int]:
    """(wall s, peak RSS MB, exit code) of one wattbench command in its own process."""
    exe = Path(sys.executable).with_name("wattbench")
    started = time.perf_counter()
    process = subprocess.Popen([str(exe), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        err = process.stderr.read().decode(errors="replace").strip().splitlines() if process.stderr else []
        print(f"  wattbench {args[0]} failed ({process.returncode}): {err[-1:]}", file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, process.returncode


def command_args(name: str, runs: Path, solution: Path, work: Path, n: int) -> list[str]:
    common = ["--experiments-dir", str(runs), "--solution", str(solution)]
    if name == "audit":
        return ["audit", *common, "--json"]
    if name == "matrix":
        return ["matrix", *common, "--output", str(work / "matrix.csv")]
    if name == "compare":
        names = [f"run-{i:04d}" for i in range(n)]
        return ["compare", *names, "--baseline", names[-1], *common, "--json"]
    if name == "plot":
        return ["plot", *common, "--out", str(work / "plots")]
    return ["report", *common, "--out", str(work / "report.html"), "--plots-dir", str(work / "report_plots")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--commands", default=",".join(COMMANDS))
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    commands = args.commands.split(",")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {QUESTIONS} questions per run")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        solution = write_solution(Path(args.data_dir) / "wattbot" / "train_QA.csv", work / "solution.csv")
        runs, built = work / "runs", 0
        print("\n| runs | command | wall s | peak MB | exit | output |")
        print("|---:|---|---:|---:|---:|---|")
        for n in sizes:
            started = time.perf_counter()
            build_store(runs, solution, n, built)
            built = n
            print(f"| {n} | (store built in {time.perf_counter() - started:.0f} s) | | | | |", flush=True)
            for name in commands:
                wall, peak, code = timed(command_args(name, runs, solution, work, n))
                output = ""
                if name == "report" and (work / "report.html").exists():
                    output = f"{(work / 'report.html').stat().st_size / 1e6:.1f} MB page"
                print(f"| {n} | {name} | {wall:.1f} | {peak:.0f} | {code} | {output} |", flush=True)


if __name__ == "__main__":
    main()
