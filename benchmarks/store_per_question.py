"""The store's cost per question over a long run: 10,000 scripted questions, each record stored as a run stores
it (append to results.jsonl with fsync, score it, rebuild the derived files when a checkpoint is due), with no
model and no retrieval, so what is timed is the store alone. Printed: the time per question over the first and
the last 500 questions (mean ± standard deviation), and the checkpoints taken.

Before: every question rewrote submission.csv, read it back and re-scored the whole run in both modes, then
rebuilt summary.json and results.json. That is timed at 100, 1,000 and 10,000 stored questions (one rebuild each,
5 times), since running 10,000 questions that way takes most of an hour.

Run: `python benchmarks/store_per_question.py [--questions N]` (about a minute at 10,000).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from wattbench.config import ExperimentConfig  # noqa: E402
from wattbench.data.paths import resolve_data_dir, wattbot_dir  # noqa: E402
from wattbench.data.wattbot import QUESTION_COLUMNS, load_questions  # noqa: E402
from wattbench.runs.outputs import Recorder, write_outputs  # noqa: E402
from wattbench.store.rundir import RunDir  # noqa: E402
from wattbench.store.schema import QuestionRecord  # noqa: E402

WINDOW = 500


def _questions_file(folder: Path, n: int) -> Path:
    """`n` questions: the 41 train questions again and again under new ids."""
    source = wattbot_dir(resolve_data_dir(None)) / "train_QA.csv"
    with open(source, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns, rows = list(reader.fieldnames or []), list(reader)
    path = folder / "questions.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for i in range(n):
            writer.writerow({**rows[i % len(rows)], "id": f"b{i:05d}"})
    return path


def _record(q, i: int) -> dict:
    value = q.answer_value if i % 3 else "42"
    answer = {"id": q.id, "question": q.question, "answer": value, "answer_value": value,
              "answer_unit": q.answer_unit, "ref_id": q.ref_id, "explanation": "scripted"}  # fmt: skip
    submission = {c: "" for c in QUESTION_COLUMNS} | answer
    return QuestionRecord.model_validate({
        "id": q.id, "question": q.question, "gt_value": q.answer_value, "pred_value": value, "latency_s": 0.5,
        "retrieval_s": 0.1, "generation_s": 0.4, "prompt_tokens": 900, "completion_tokens": 60,
        "raw_output": json.dumps({"answer_value": value, "ref_id": ["x"], "explanation": "scripted"}),
        "retrieved": [f"doc:p{j}:0" for j in range(10)], "submission": submission,
        "energy": {"label": "question", "energy_j": {"gpu:0": 50.0}, "method": {"gpu:0": "nvml"},
                   "duration_s": 0.5},
    })  # fmt: skip


def _now_run(folder: Path, questions_path: Path) -> tuple[list[float], int]:
    questions = load_questions(questions_path)
    run = RunDir(folder / "now")
    run.path.mkdir()
    config = ExperimentConfig(name="bench", provider="openai", model="m", questions=str(questions_path))
    records: dict[str, dict] = {}
    sessions = [{"started_at": "", "wall_s": 0.0, "questions": 0, "energy": {}}]
    recorder = Recorder(run, config, questions, questions_path, records, sessions, {}, {})
    per_question = []
    for i, q in enumerate(questions):
        record = _record(q, i)
        started = time.perf_counter()
        run.append_result(record)
        records[q.id] = record.dump()
        recorder(records[q.id])
        per_question.append(time.perf_counter() - started)
    recorder(None)
    return per_question, recorder.checkpoints.taken


def _before_rebuild_s(folder: Path, questions_path: Path, n: int) -> list[float]:
    questions = load_questions(questions_path)[:n]
    run = RunDir(folder / f"before-{n}")
    run.path.mkdir()
    config = ExperimentConfig(name="bench", provider="openai", model="m", questions=str(questions_path))
    records = {q.id: _record(q, i).dump() for i, q in enumerate(questions)}
    sessions = [{"started_at": "", "wall_s": 0.0, "questions": 0, "energy": {}}]
    times = []
    for _ in range(5):
        started = time.perf_counter()
        write_outputs(run, config, questions, questions_path, records, sessions, {}, {})  # score from the file
        times.append(time.perf_counter() - started)
    return times


def _ms(values: list[float]) -> str:
    return (
        f"{1e3 * statistics.fmean(values):.2f} ± {1e3 * statistics.stdev(values):.2f} ms "
        f"(median {1e3 * statistics.median(values):.2f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=10_000)
    n = parser.parse_args().questions
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        folder = Path(tmp)
        questions_path = _questions_file(folder, n)
        per_question, checkpoints = _now_run(folder, questions_path)
        print(f"now, {n} questions ({checkpoints} checkpoints):")
        print(f"  per question, first {WINDOW}: {_ms(per_question[:WINDOW])}")
        print(f"  per question, last {WINDOW}:  {_ms(per_question[-WINDOW:])}")
        print(f"  whole run: {sum(per_question):.1f} s for the store")
        print("before, one question's rebuild (every question paid it) at:")
        for size in (100, 1000, n):
            print(f"  {size:>6} questions stored: {_ms(_before_rebuild_s(folder, questions_path, size))}")


if __name__ == "__main__":
    main()
