"""The batch results folder, compatible with the seed runner's layout:

    batch_results/master_results.csv                         one row per (model, reasoning state)
    batch_results/individual_runs/<model>_<state>/           prompts.jsonl (one line per prompt) and summary.json
    batch_results/logs/<model>_<state>_<timestamp>.log       "[YYYY-MM-DD HH:MM:SS] INFO: ..." one line per step

The master table is rewritten atomically with a run's row replaced, so an interrupted batch never loses rows.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

from wattbench.errors import WattbenchError
from wattbench.store.lock import DirLock
from wattbench.store.logs import file_logger
from wattbench.store.paths import inside
from wattbench.store.rundir import write_atomically
from wattbench.store.safe_io import guarded
from wattbench.store.schema import BatchRunSummary, MasterRow
from wattbench.urls import redact_text

ALL_COLUMNS = MasterRow.columns()
SEED_COLUMN_COUNT = 19
MASTER_COLUMNS = ALL_COLUMNS[:SEED_COLUMN_COUNT]
"""The seed runner's columns, in its order; ours follow them."""
EXTRA_COLUMNS = ALL_COLUMNS[SEED_COLUMN_COUNT:]


class BatchDir:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def master_csv(self) -> Path:
        return self.root / "master_results.csv"

    def run_dir(self, key: str) -> Path:
        runs = self.root / "individual_runs"
        inside(runs, runs / key, f"run key {key!r}")  # keys are sanitised model ids; never a path out
        return runs / key

    def read_cells(self) -> list[dict[str, str]]:
        """The master table's rows as written (every cell a string; columns added by hand kept)."""
        if not self.master_csv.exists():
            return []
        with open(self.master_csv, encoding="utf-8-sig", newline="") as handle:
            return [{k: v or "" for k, v in row.items() if k is not None} for row in csv.DictReader(handle)]

    def read_master(self) -> list[MasterRow]:
        """The master table's rows, typed: an empty cell is None (unknown)."""
        return [MasterRow.from_cells(row, f"{self.master_csv} row {n}") for n, row in enumerate(self.read_cells(), 2)]

    def upsert_master(self, row: MasterRow) -> None:
        """Replace the row of the same run (model, state), or append it; every other row is kept as it was.
        Runs finishing side by side (the local executor) take turns: the read-modify-write holds a file lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".master_results.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._upsert(row)

    def _upsert(self, row: MasterRow) -> None:
        rows = self.read_cells()
        key = (row.model_name, row.reasoning_state or "")
        rows = [r for r in rows if (r.get("model_name"), r.get("reasoning_state", "")) != key]
        rows.append({c: _cell(v) for c, v in row.cells().items()})
        columns = list(ALL_COLUMNS) + sorted({c for r in rows for c in r} - set(ALL_COLUMNS))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: r.get(c, "") for c in columns} for r in rows)
        write_atomically(self.master_csv, out.getvalue())

    def completed(self, key: str) -> bool:
        """A run whose summary says it finished every prompt (a failed or interrupted run is run again)."""
        summary = self.run_summary(key)
        return summary is not None and summary.status == "completed"

    def run_summary(self, key: str) -> BatchRunSummary | None:
        """The run's summary.json; None when it has none or it cannot be read (the run is then run again)."""
        path = self.run_dir(key) / "summary.json"
        if not path.exists():
            return None
        try:
            return BatchRunSummary.read(path)
        except WattbenchError:
            return None

    def start_run(self, key: str, keep: list[dict[str, Any]] | None = None) -> Path:
        """The run dir, ready for this run: a previous partial run of the same key is replaced, not appended to;
        with `keep` (the records of the passes a resumed row keeps), prompts.jsonl holds just those and the power
        timeline goes on. The old summary goes either way: it describes a run that is no longer on disk."""
        path = self.run_dir(key)
        with guarded(path, "start the run in"):
            path.mkdir(parents=True, exist_ok=True)
            (path / "summary.json").unlink(missing_ok=True)
            if keep:
                lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in keep)
                write_atomically(path / "prompts.jsonl", lines)
            else:
                for name in ("prompts.jsonl", "power.csv"):
                    (path / name).unlink(missing_ok=True)
        return path

    def lock(self) -> DirLock:
        """The batch folder's writer lock (held by the batch command; its rows' children write under it)."""
        return DirLock(self.root, "this batch folder", "wait for that batch to finish, or use another --output-dir")

    def logger(self, key: str) -> tuple[logging.Logger, Path]:
        logs = self.root / "logs"
        with guarded(logs, "create"):
            logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"{key}_{time.strftime('%Y%m%d_%H%M%S')}.log"
        return file_logger(f"wattbench.batch.{key}.{id(path)}", path), path


def _cell(value: Any) -> str:
    """CSV text: unknown is empty (never 0), floats at full precision, booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 9))
    return redact_text(str(value))
