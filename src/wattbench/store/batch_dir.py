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

from wattbench.data.textio import read_csv_table
from wattbench.store.paths import inside
from wattbench.store.rundir import write_atomically

MASTER_COLUMNS = (
    "model_name",
    "model_class",
    "task",
    "reasoning_state",
    "total_prompts",
    "successful_prompts",
    "failed_prompts",
    "total_duration_seconds",
    "avg_latency_seconds",
    "total_tokens",
    "total_prompt_tokens",
    "total_completion_tokens",
    "throughput_tokens_per_second",
    "gpu_energy_wh",
    "co2_emissions_g",
    "tokens_per_joule",
    "avg_energy_per_prompt_wh",
    "timestamp",
    "error_message",
)
EXTRA_COLUMNS = (
    "wh_per_1000_queries",
    "total_reasoning_tokens",
    "total_answer_tokens",
    "avg_ttft_seconds",
    "prompts_cap_reached_while_thinking",
    "cpu_energy_wh",
    "energy_method",
    "idle_power_w",
    "gpu_name",
    "gpu_count",
    "status",
    "backend",
    "family",
    "reasoning_control",
    "reasoning",
    "effort",
    "max_new_tokens",
    "fixed_length",
    "warmup_prompts",
    "repeats",
    "rendered_prompts_sha256",
    "run_id",
)
ALL_COLUMNS = MASTER_COLUMNS + EXTRA_COLUMNS
LOG_FORMAT = "[%(asctime)s] %(levelname)s: %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


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

    def read_master(self) -> list[dict[str, str]]:
        if not self.master_csv.exists():
            return []
        return read_csv_table(self.master_csv).rows

    def upsert_master(self, row: dict[str, Any]) -> None:
        """Replace the row of the same run (model, state), or append it; every other row is kept as it was.
        Runs finishing side by side (the local executor) take turns: the read-modify-write holds a file lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".master_results.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._upsert(row)

    def _upsert(self, row: dict[str, Any]) -> None:
        rows = self.read_master()
        key = (row["model_name"], row["reasoning_state"])
        rows = [r for r in rows if (r.get("model_name"), r.get("reasoning_state")) != key]
        rows.append({c: _cell(row.get(c)) for c in ALL_COLUMNS})
        columns = list(ALL_COLUMNS) + sorted({c for r in rows for c in r} - set(ALL_COLUMNS))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: r.get(c, "") for c in columns} for r in rows)
        write_atomically(self.master_csv, out.getvalue())

    def completed(self, key: str) -> bool:
        """A run whose summary says it finished every prompt (a failed or interrupted run is run again)."""
        summary = self.run_dir(key) / "summary.json"
        try:
            return json.loads(summary.read_text(encoding="utf-8")).get("status") == "completed"
        except (OSError, json.JSONDecodeError):
            return False

    def start_run(self, key: str) -> Path:
        """A fresh run dir: a previous partial run of the same key is replaced, not appended to."""
        path = self.run_dir(key)
        path.mkdir(parents=True, exist_ok=True)
        for name in ("prompts.jsonl", "summary.json"):
            (path / name).unlink(missing_ok=True)
        return path

    def logger(self, key: str) -> tuple[logging.Logger, Path]:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"{key}_{time.strftime('%Y%m%d_%H%M%S')}.log"
        log = logging.getLogger(f"wattbench.batch.{key}.{id(path)}")
        log.setLevel(logging.INFO)
        log.propagate = False
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT))
        log.addHandler(handler)
        return log, path


def close_logger(log: logging.Logger) -> None:
    for handler in list(log.handlers):
        handler.close()
        log.removeHandler(handler)


def _cell(value: Any) -> str:
    """CSV text: unknown is empty (never 0), floats at full precision, booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 9))
    return str(value)
