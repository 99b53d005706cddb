"""A WattBot run directory: results.jsonl (one line per question, flushed as each finishes), submission.csv,
summary.json, results.json (the seed tools' format), power.csv and run.log. See DESIGN.md, "Run directory"."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from wattbench.store.schema import QuestionRecord, RunSummary


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def results_jsonl(self) -> Path:
        return self.path / "results.jsonl"

    @property
    def summary_json(self) -> Path:
        return self.path / "summary.json"

    def append_result(self, record: QuestionRecord) -> None:
        """Append one question's record and force it to disk, so a killed run keeps every finished question."""
        append_jsonl(self.results_jsonl, record.dump())

    def read_results(self) -> dict[str, dict[str, Any]]:
        """The latest record per question id, read through QuestionRecord (so records of earlier releases get
        today's fields); a line cut off by a kill is skipped."""
        records: dict[str, dict[str, Any]] = {}
        if not self.results_jsonl.exists():
            return records
        for number, line in enumerate(self.results_jsonl.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            record = QuestionRecord.of(data, f"{self.results_jsonl} line {number}")
            records[record.id] = record.dump()
        return records

    def read_summary(self) -> RunSummary | None:
        if not self.summary_json.exists():
            return None
        return RunSummary.read(self.summary_json)

    def write_summary(self, summary: RunSummary) -> None:
        self.write_json("summary.json", summary.dump())

    def write_json(self, name: str, payload: Any) -> None:
        write_atomically(self.path / name, json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")

    def write_submission(self, rows: list[dict[str, str]], columns: tuple[str, ...]) -> Path:
        """submission.csv with `columns` (the WattBot 9, given by the caller: the store knows no task)."""
        path = self.path / "submission.csv"
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".submission.csv.")
        _as_plain_file(fd)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
        return path


def write_atomically(path: Path, text: str) -> None:
    write_bytes_atomically(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _as_plain_file(fd: int) -> None:
    # mkstemp creates 0600; the files a run writes are as readable as any other file the user creates (0644
    # under the usual umask), like results.jsonl, so a shared results folder can be read by the team.
    os.fchmod(fd, 0o666 & ~_umask())


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    _as_plain_file(fd)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and force it to disk: a killed run keeps every record written before the kill."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
