"""A batch row picked up where it stopped: the measured passes an interrupted or failed run finished are kept.

A row stopped inside its third pass of five (Ctrl-C, a timeout, a dead server) is run again by the next
`wattbench batch`. Its first two passes were measured in full, each in a meter window of its own
(`repeats.per_repeat[].window` in summary.json), so the rerun keeps them and measures passes three to five only.
They are kept only when nothing that decides what a pass measures has changed since: the row's reasoning mode,
the prompts (by hash), and every batch setting except how many passes to make (`repeats`, `repeat_until`,
`max_repeats`), when to give up on a dead server (`max_consecutive_failures`) and where the rows run or are
written (`executor`, `output_dir`, `data_dir`). Otherwise, or with `--force`, the row starts again from its first
pass, as before. The pass a run was stopped in is never kept, nor the last pass of a run that failed (a dead
server fails its last prompts). On Ray, the earlier run's files go to the node with the row's job.

The row's measured energy is then the sum of its passes' windows (kept ones and the new session's), with the
sessions they came from counted (`energy.sessions`), as a resumed WattBot run's is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from wattbench.config import BatchConfig
from wattbench.energy.base import Measurement
from wattbench.errors import WattbenchError
from wattbench.store.batch_dir import BatchDir
from wattbench.store.schema import BatchRunSummary, PromptRecord
from wattbench.urls import redact_values

FREE_SETTINGS = frozenset(
    {"repeats", "repeat_until", "max_repeats", "max_consecutive_failures", "executor", "output_dir", "data_dir"}
)
"""Batch settings a rerun may change and still keep the finished passes."""


@dataclass
class KeptPasses:
    """What a rerun keeps of the row's earlier run."""

    run_id: str
    started_at: str
    records: list[PromptRecord] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    windows: list[Measurement] = field(default_factory=list)
    sessions: int = 1
    first_rendered: str | None = None

    @property
    def passes(self) -> int:
        return len(self.wall_s)

    def measured(self) -> Measurement | None:
        """The kept passes' windows summed, counted as the sessions they were measured in."""
        if not self.windows:
            return None
        total = self.windows[0]
        for window in self.windows[1:]:
            total = total + window
        return replace(total, label="measured", sessions=self.sessions)  # the windows themselves stay as stored


def prompts_sha256(prompts: list[str]) -> str:
    """The prompt set's identity (order included): a rerun on other prompts keeps nothing."""
    return hashlib.sha256(json.dumps(prompts, ensure_ascii=False).encode("utf-8")).hexdigest()


def settings_of(config: BatchConfig | dict[str, Any]) -> dict[str, Any]:
    """The settings that decide what a pass measures, as summary.json stores them (credentials redacted)."""
    dumped = config.model_dump(mode="json") if isinstance(config, BatchConfig) else config
    stored = json.loads(json.dumps(redact_values(dumped), default=str))
    return {key: value for key, value in stored.items() if key not in FREE_SETTINGS}


def kept_passes(
    batch: BatchDir, key: str, config: BatchConfig, mode: dict[str, Any], prompts: list[str]
) -> KeptPasses | None:
    """The finished passes of the row's earlier, unfinished run that this run can keep; None to start afresh."""
    summary = batch.run_summary(key)
    if summary is None or summary.status == "completed" or not summary.repeats:
        return None
    if not _same_row(summary, config, mode, prompts):
        return None
    records = _records(batch, key)
    if records is None:
        return None
    passes = list(summary.repeats.get("per_repeat") or [])
    if summary.repeats.get("stop") == "failed" and passes:
        passes = passes[:-1]  # its last prompts met the dead server
    started = str(summary.results.timestamp or "")
    kept = KeptPasses(summary.run_id or "", started, sessions=_sessions(summary))
    for repeat, figures in enumerate(passes):
        mine = [r for r in records if r.repeat == repeat]
        window = figures.get("window")
        if (
            figures.get("repeat") != repeat
            or not window
            or sorted(r.prompt_index for r in mine) != list(range(len(prompts)))
        ):
            break  # the pass it was stopped in, and every later one
        kept.records += mine
        kept.wall_s.append(float(figures["wall_s"]))
        kept.windows.append(Measurement.from_dict(window))
    if not kept.passes:
        return None
    kept.first_rendered = summary.first_rendered_prompt
    return kept


def _same_row(summary: BatchRunSummary, config: BatchConfig, mode: dict[str, Any], prompts: list[str]) -> bool:
    repeats = summary.repeats or {}
    return (
        summary.mode == mode
        and repeats.get("prompts_sha256") == prompts_sha256(prompts)
        and settings_of(summary.config) == settings_of(config)
    )


def _records(batch: BatchDir, key: str) -> list[PromptRecord] | None:
    path = batch.run_dir(key) / "prompts.jsonl"
    records = []
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut off by a kill: its pass is the one the run was stopped in
            records.append(PromptRecord.of(data, f"{path} line {number}"))
    except (OSError, UnicodeDecodeError, WattbenchError):
        return None  # unreadable: the row starts again rather than keep what it cannot check
    return records


def _sessions(summary: BatchRunSummary) -> int:
    energy = summary.energy
    sessions = getattr(energy, "sessions", None) if energy is not None else None
    return int(sessions) if isinstance(sessions, int) and sessions > 0 else 1
