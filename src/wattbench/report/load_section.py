"""The report's load sweeps: every `wattbench load` result under a folder (its load.json, or one per subfolder
for several sweeps), each as a table of its points and its two figures, with the reference beside them."""

from __future__ import annotations

import html
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from wattbench.errors import DataError
from wattbench.runs.load import LoadPoint
from wattbench.store.schema import LoadResults

SHOWN = (
    ("batch_size", "B", None),
    ("completed", "completed", None),
    ("j_per_output_token", "J / output token", 4),
    ("output_tokens_per_s", "output tokens/s", 1),
    ("avg_gpu_power_w", "avg GPU power W", 1),
    ("ttft_p50_s", "TTFT p50 s", 3),
    ("ttft_p99_s", "TTFT p99 s", 3),
    ("tpot_p50_s", "TPOT p50 s", 4),
    ("tpot_p99_s", "TPOT p99 s", 4),
)


@dataclass
class Sweep:
    name: str
    path: Path
    facts: dict[str, Any]
    points: list[LoadPoint]


def find_sweeps(load_dir: Path) -> list[Sweep]:
    """The sweeps in `load_dir` itself and in its immediate subfolders, by name; a load.json that cannot be read
    is an error naming the file."""
    paths = [load_dir / "load.json", *sorted(load_dir.glob("*/load.json"))] if load_dir.is_dir() else []
    return [_read(path, load_dir) for path in paths if path.is_file()]


def _read(path: Path, root: Path) -> Sweep:
    known = {f.name for f in fields(LoadPoint)}
    try:
        results = LoadResults.read(path)  # through its typed model
        points = [LoadPoint(**{k: v for k, v in row.items() if k in known}) for row in results.points]
    except (DataError, ValueError, KeyError, TypeError) as exc:
        why = str(exc).removeprefix(f"{path}: ").split(";")[0]
        raise DataError(f"{path}: not a wattbench load result ({why}); rerun `wattbench load` or move it") from None
    name = path.parent.name if path.parent != root else root.name
    return Sweep(name, path, {k: v for k, v in results.dump().items() if k != "points"}, points)


def about(sweep: Sweep) -> str:
    """What was loaded, how, and on what machine (HTML-escaped)."""
    machine = sweep.facts.get("machine") or {}
    gpus = ", ".join(str(g.get("name", "?")) for g in machine.get("gpus") or []) or "no GPU"
    return (
        f"{html.escape(str(sweep.facts.get('engine')))} serving {html.escape(str(sweep.facts.get('model')))}, "
        f"{sweep.facts.get('requests')} requests of {sweep.facts.get('max_tokens')} output tokens per point, on "
        f"{html.escape(gpus)} ({html.escape(str(machine.get('cpu', '')))}); <code>{html.escape(str(sweep.path))}</code>"
    )


def problems(sweep: Sweep) -> list[str]:
    """Per point, why it has no steady window or no energy."""
    return [
        f"B={p.batch_size}: {p.problem or p.energy_unavailable}"
        for p in sweep.points
        if p.problem or (p.energy_unavailable and p.j_per_output_token is None)
    ]
