"""A WattBot run directory: results.jsonl (one line per question, flushed as each finishes), submission.csv,
summary.json, results.json (the seed tools' format), power.csv and run.log. See DESIGN.md, "Run directory"."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from wattbench.store.safe_io import guarded
from wattbench.store.schema import QuestionRecord, RunSummary
from wattbench.urls import redact_values


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
        """The latest record per question id of the run's own pass (repeat 0), read through QuestionRecord (so
        records of earlier releases get today's fields); a line cut off by a kill is skipped."""
        return self._read_passes().get(0, {})

    def read_repeats(self) -> dict[int, dict[str, dict[str, Any]]]:
        """The further measured passes (task.repeats): pass number → question id → its latest record."""
        return {n: records for n, records in self._read_passes().items() if n > 0}

    def _read_passes(self) -> dict[int, dict[str, dict[str, Any]]]:
        passes: dict[int, dict[str, dict[str, Any]]] = {}
        if not self.results_jsonl.exists():
            return passes
        for number, line in enumerate(self.results_jsonl.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            record = QuestionRecord.of(data, f"{self.results_jsonl} line {number}")
            passes.setdefault(record.repeat, {})[record.id] = record.dump()
        return passes

    def read_summary(self) -> RunSummary | None:
        if not self.summary_json.exists():
            return None
        return RunSummary.read(self.summary_json)

    def write_summary(self, summary: RunSummary) -> None:
        self.write_json("summary.json", summary.dump())

    def write_json(self, name: str, payload: Any) -> None:
        write_json(self.path / name, payload)

    def write_submission(self, rows: list[dict[str, str]], columns: tuple[str, ...]) -> Path:
        """submission.csv with `columns` (the WattBot 9, given by the caller: the store knows no task)."""
        path = self.path / "submission.csv"
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
        write_atomically(path, out.getvalue())
        return path

    def set_aside_torn(self) -> str | None:
        """A last line cut off mid-write (a crash, a full disk) moved out of results.jsonl into
        results.jsonl.torn, so the next record starts on a line of its own and the question is asked again;
        what to warn, or None when the file ends cleanly."""
        return set_aside_torn(self.results_jsonl)


def set_aside_torn(path: Path) -> str | None:
    """See RunDir.set_aside_torn; for any JSON-lines file the store appends to."""
    if not path.exists() or path.is_symlink():
        return None
    with guarded(path, "repair"):
        data = path.read_bytes()
        if not data or data.endswith(b"\n") and _parses(data.rstrip(b"\n").rsplit(b"\n", 1)[-1]):
            return None
        body = data if not data.endswith(b"\n") else data.rstrip(b"\n")
        cut = body.rfind(b"\n") + 1  # the start of the last line
        torn = data[cut:]
        torn_path = path.with_name(path.name + ".torn")
        with open(torn_path, "ab") as handle:
            handle.write(torn if torn.endswith(b"\n") else torn + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        with open(path, "r+b") as handle:
            handle.truncate(cut)
            handle.flush()
            os.fsync(handle.fileno())
    return (f"{path}: its last line was cut off mid-write ({len(torn)} bytes); set aside in {torn_path.name}, "
            "and that question is asked again")  # fmt: skip


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return True


def write_json(path: Path, payload: Any) -> None:
    """A JSON file, written atomically. Credentials in a URL (a config snapshot's base_url, an error message) are
    redacted: they are never stored."""
    write_atomically(path, json.dumps(redact_values(payload), indent=2, ensure_ascii=False, default=str) + "\n")


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
    """Readers see the old file or the new one, never half of it; a write that fails (a full disk, a read-only
    folder) leaves the old file and no temporary one, and says so in one line."""
    path = Path(path)
    with guarded(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            _as_plain_file(fd)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
            os.replace(tmp, path)  # replaces a link itself, never the file it points to
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one whole JSON line and force it to disk: a killed run keeps every record written before the kill.
    The line goes down in one write at the file's end; a write that fails is cut back off, so the file never
    ends in half a line. A link is refused (O_NOFOLLOW): the store never appends to a file outside it."""
    line = (json.dumps(redact_values(record), ensure_ascii=False) + "\n").encode("utf-8")
    with guarded(path, "append to"):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666)
        try:
            start = os.fstat(fd).st_size
            if start and os.pread(fd, 1, start - 1) != b"\n":
                line = b"\n" + line  # a torn line left by another writer: this record starts on its own line
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(errno.ENOSPC, "short write")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)
