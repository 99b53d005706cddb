"""What one record costs the store: appending a question's record to results.jsonl, before this change (open in
append mode, write, fsync) and now (one O_APPEND write after a check that the file ends in a newline, URL
credentials redacted, fsync), and the lock a run takes once. Records are real WattBot records (the shape of
results.jsonl, about 3 KB each). Run: `python benchmarks/store_append.py` (about 20 s)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from wattbench.store.lock import DirLock  # noqa: E402
from wattbench.store.rundir import append_jsonl  # noqa: E402

N = 1000
REPEATS = 5


def _record(i: int) -> dict:
    return {"id": f"q{i:04d}", "question": "What is the PUE of Google's data centers?" * 3, "pred_value": "1.1",
            "raw_output": '{"answer_value": "1.1", "ref_id": ["google2024"]}' * 4, "context": [f"doc:p{j}:0-900"
            for j in range(10)], "retrieved": [f"doc:p{j}:0" for j in range(10)], "notes": [], "latency_s": 1.0,
            "energy": {"energy_j": {"gpu:0": 12.5}, "method": {"gpu:0": "nvml"}, "duration_s": 1.0},
            "explanation": "x" * 1500}  # fmt: skip


def _old(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _time(append, folder: Path) -> list[float]:
    per_record = []
    for repeat in range(REPEATS):
        path = folder / f"results-{append.__name__}-{repeat}.jsonl"
        records = [_record(i) for i in range(N)]
        started = time.perf_counter()
        for record in records:
            append(path, record)
        per_record.append((time.perf_counter() - started) / N * 1e6)
    return per_record


def main() -> None:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        folder = Path(tmp)
        size = len(json.dumps(_record(0)))
        rows = [("before: open, write, fsync", _time(_old, folder)), ("now: O_APPEND, redacted, fsync",
                _time(append_jsonl, folder))]  # fmt: skip
        locks = []
        for _ in range(200):
            started = time.perf_counter()
            with DirLock(folder / "run"):
                pass
            locks.append((time.perf_counter() - started) * 1e6)
    print(f"{N} records of {size} bytes, {REPEATS} repeats; on {Path.cwd()}'s file system\n")
    print("| append | µs per record (mean ± sd over repeats) |")
    print("|---|---:|")
    for name, values in rows:
        print(f"| {name} | {statistics.fmean(values):.0f} ± {statistics.stdev(values):.0f} |")
    print(f"\nlock taken and released: {statistics.median(locks):.0f} µs (median of 200), once per run")


if __name__ == "__main__":
    main()
