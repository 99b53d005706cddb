"""Cost and coverage of the intervals: `score` with and without intervals on 282 and 10,000 rows, `compare` over
10 runs (45 pairs) on 282 questions, and the coverage of the 95% score interval on simulated runs.

Files are made like benchmarks/score_speed.py's (train rows repeated under new ids, answers varied); the 10 runs
of the compare are run dirs written by the test suite's writer (tests/fakes/store.py), each with per-question
GPU energy and latency, so every pair also gets its energy and latency ratio. Times are best and median of 5.
Run: python benchmarks/uncertainty.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.store import write_run  # noqa: E402
from score_speed import best_of, make_files  # noqa: E402
from test_uncertainty import TRUE_KAGGLE, simulated_rows  # noqa: E402
from wattbench.data.paths import resolve_data_dir, wattbot_dir  # noqa: E402
from wattbench.report.compare import compare, resolve  # noqa: E402
from wattbench.scoring.intervals import score_intervals, with_intervals  # noqa: E402
from wattbench.scoring.wattbot import score_files  # noqa: E402
from wattbench.stats.bootstrap import Bootstrap  # noqa: E402


def _score_times(train: Path, out: Path) -> None:
    exe = Path(sys.executable).with_name("wattbench")
    for n_rows in (282, 10_000):
        solution, submission = make_files(train, n_rows, out)
        plain = best_of(lambda: score_files(solution, submission, "kaggle"), 5)
        report = score_files(solution, submission, "kaggle")
        boot = best_of(lambda: with_intervals(report), 5)
        print(f"{n_rows:>6} rows: score {plain[0] * 1000:7.1f} ms (median {plain[1] * 1000:.1f}); intervals, "
              f"10,000 resamples, 5 figures: {boot[0] * 1000:7.1f} ms (median {boot[1] * 1000:.1f})")  # fmt: skip
        for flag in ("0", "10000"):
            command = [str(exe), "score", str(solution), str(submission), "--json", "--bootstrap", flag]
            best, median = best_of(lambda: subprocess.run(command, check=True, capture_output=True), 5)
            print(f"        CLI wall time --bootstrap {flag:>5}: best {best:.3f} s, median {median:.3f} s")


def _compare_time(train: Path, out: Path) -> None:
    solution, _ = make_files(train, 282, out)
    rng = np.random.default_rng(0)
    base_energy = rng.lognormal(5.0, 0.8, 282)
    for k in range(10):
        write_run(out / "runs", f"run{k}", solution, correct=0, right=list(rng.random(282) < 0.4 + 0.03 * k),
                  question_energy_j=list(base_energy * (1 + 0.1 * k) * rng.lognormal(0, 0.05, 282)),
                  question_latency_s=list(rng.lognormal(0, 0.3, 282)))  # fmt: skip
    names = [f"run{k}" for k in range(10)]

    def run() -> dict:
        return compare(resolve(names, out / "runs", solution, lambda: solution), "kaggle", Bootstrap())

    result = run()
    best, median = best_of(run, 3)
    calls = sum(p["verdict"] != "no detectable difference" for p in result["pairs"])
    print(f"compare, 10 runs x 282 questions ({len(result['pairs'])} pairs, score + energy + latency each): best "
          f"{best:.2f} s, median {median:.2f} s; {calls} of {len(result['pairs'])} pairs called different")  # fmt: skip


def _coverage(trials: int, resamples: int, n: int) -> None:
    rng = np.random.default_rng(2026)
    spec = Bootstrap(resamples=resamples, seed=1)
    covered = 0
    start = time.perf_counter()
    for _ in range(trials):
        lo, hi = score_intervals(simulated_rows(rng, n), "kaggle", spec)["overall"] or (0.0, 0.0)
        covered += lo <= TRUE_KAGGLE <= hi
    rate = covered / trials
    se = (rate * (1 - rate) / trials) ** 0.5
    print(f"coverage of the 95% interval, {trials} simulated runs of {n} questions, {resamples} resamples: "
          f"{rate:.3f} ± {1.96 * se:.3f} (95% binomial), {time.perf_counter() - start:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    train = wattbot_dir(resolve_data_dir(args.data_dir)) / "train_QA.csv"
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        _score_times(train, Path(tmp))
        _compare_time(train, Path(tmp))
    _coverage(1500, 1000, 282)
    _coverage(300, 10_000, 282)
    _coverage(1000, 1000, 41)


if __name__ == "__main__":
    main()
