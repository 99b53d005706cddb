"""Time to score a 10,000-row WattBot submission (and 1k / 100k to show the cost is linear in rows).

Rows are generated from the train questions: each train row is repeated with a new id, and the submission varies
the answers (thousands commas, hedges, ranges written as text, blanks, wrong refs) so both modes take every path.
Prints in-process time (read + score) per mode, and the wall time of the `wattbench score` command.
Run: make bench   (or: python benchmarks/score_speed.py [--data-dir DIR])
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wattbench.data.paths import resolve_data_dir, wattbot_dir
from wattbench.data.textio import read_csv_table
from wattbench.scoring.wattbot import score_files

VARIANTS = [
    lambda v: v,
    lambda v: f"approximately {v}",
    lambda v: f"{float(v):,.0f}" if v.replace(".", "", 1).isdigit() and float(v) >= 1000 else v,
    lambda v: v.strip("[]").replace(",", " to ") if v.startswith("[") else v,
    lambda v: "is_blank",
]


def make_files(train: Path, n_rows: int, out_dir: Path) -> tuple[Path, Path]:
    table = read_csv_table(train)
    solution, submission = out_dir / f"solution_{n_rows}.csv", out_dir / f"submission_{n_rows}.csv"
    with open(solution, "w", newline="") as s_out, open(submission, "w", newline="") as u_out:
        s_writer, u_writer = csv.DictWriter(s_out, table.columns), csv.DictWriter(u_out, table.columns)
        s_writer.writeheader()
        u_writer.writeheader()
        for i in range(n_rows):
            row = dict(table.rows[i % len(table.rows)], id=f"r{i:06d}")
            s_writer.writerow(row)
            guess = dict(row, answer_value=VARIANTS[i % len(VARIANTS)](row["answer_value"]))
            if i % 7 == 0:
                guess["ref_id"] = "['wrong2020']"
            u_writer.writerow(guess)
    return solution, submission


def best_of(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    train = wattbot_dir(resolve_data_dir(args.data_dir)) / "train_QA.csv"
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for n_rows in (1_000, 10_000, 100_000):
            solution, submission = make_files(train, n_rows, out)
            for mode in ("kaggle", "lenient"):
                report = score_files(solution, submission, mode)  # warm-up, and the figures printed
                best, median = best_of(lambda: score_files(solution, submission, mode), 5 if n_rows < 100_000 else 2)
                print(
                    f"{n_rows:>7} rows {mode:<8} best {best * 1000:7.1f} ms  median {median * 1000:7.1f} ms  "
                    f"({best / n_rows * 1e6:5.2f} us/row)  overall {report.overall:.4f}"
                )
        solution, submission = make_files(train, 10_000, out)
        exe = Path(sys.executable).with_name("wattbench")
        for mode in ("kaggle", "lenient"):
            command = [str(exe), "score", str(solution), str(submission), "--mode", mode, "--json"]
            best, median = best_of(lambda: subprocess.run(command, check=True, capture_output=True), 5)
            print(
                f" 10000 rows {mode:<8} CLI wall time (process start to exit) best {best:.3f} s  median {median:.3f} s"
            )


if __name__ == "__main__":
    main()
