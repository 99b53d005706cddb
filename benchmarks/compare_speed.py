"""Time of the comparison commands over a store of N runs x 41 questions (N = 10 and 40).

The runs are written by the test suite's run-dir writer (tests/fakes/store.py) in the documented schema: a mix
of local GPU runs with sizes and energy, and API runs with prices. Prints in-process seconds for matrix, audit,
plot (14 figures, PNG + SVG) and report (HTML with the plots embedded), and the report's size.
Run: python benchmarks/compare_speed.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.store import write_run  # noqa: E402
from wattbench.cli import main  # noqa: E402
from wattbench.data.paths import resolve_data_dir, wattbot_dir  # noqa: E402


def make_store(root: Path, solution: Path, n: int) -> None:
    for i in range(n):
        if i % 3 == 2:
            write_run(root, f"api-{i}", solution, correct=10 + i % 25, provider="openai", model=f"api-model-{i}",
                      price_per_1m=(0.15 * (1 + i % 4), 0.6 * (1 + i % 4)))  # fmt: skip
        else:
            write_run(root, f"local-{i}", solution, correct=5 + i % 30, model=f"org/model-{i}", params=(1 + i) * 10**9,
                      latency_s=0.5 + i / 10, gpu_wh_per_question=0.02 * (1 + i))  # fmt: skip


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    code = main(args)
    if code != 0:
        raise SystemExit(f"{args[0]} exited {code}")
    return time.perf_counter() - started


def main_() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path)
    solution = wattbot_dir(resolve_data_dir(parser.parse_args().data_dir)) / "train_QA.csv"
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    for n in (10, 40):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_store(root / "runs", solution, n)
            common = ["--experiments-dir", str(root / "runs"), "--solution", str(solution)]
            figures = {
                "matrix": timed(["matrix", *common, "--output", str(root / "m.csv")]),
                "audit": timed(["audit", *common]),
                "plot": timed(["plot", *common, "--out", str(root / "plots")]),
                "report": timed(["report", *common, "--out", str(root / "r.html"), "--plots-dir", str(root / "p")]),
            }
            size_kb = (root / "r.html").stat().st_size / 1024
            print(
                f"{n} runs: " + ", ".join(f"{k} {v:.2f} s" for k, v in figures.items()) + f"; report {size_kb:.0f} KiB"
            )


if __name__ == "__main__":
    main_()
