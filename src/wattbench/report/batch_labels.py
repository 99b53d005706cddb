"""Labels of batch runs: which run a name means, and its stars (against the board where the board's range for
its group is known, else within its own batch)."""

from __future__ import annotations

from pathlib import Path

from wattbench.data.board import Board
from wattbench.errors import DataError
from wattbench.report.label import LabelFacts
from wattbench.report.official import rate_against
from wattbench.report.ratings import rate
from wattbench.store.batch_dir import BatchDir
from wattbench.store.schema import BatchRunSummary, MasterRow


def find_run(run: str, output_dir: Path) -> Path:
    """A run's folder from its path, its folder name under individual_runs/, or its run id."""
    direct = Path(run)
    if (direct / "summary.json").exists():
        return direct
    runs = output_dir / "individual_runs"
    if (runs / run / "summary.json").exists():
        return runs / run
    for folder in sorted(runs.glob("*")) if runs.is_dir() else []:
        if (folder / "summary.json").exists() and read_summary(folder).run_id == run:
            return folder
    known = ", ".join(sorted(p.name for p in runs.glob("*"))[:5]) if runs.is_dir() else "none"
    raise DataError(f"run '{run}': no such run folder or run id under {runs} (runs: {known}); pass a run folder")


def read_summary(folder: Path) -> BatchRunSummary:
    """A batch run's summary.json, through its typed model (an earlier version upgraded; a bad one: one line)."""
    return BatchRunSummary.read(folder / "summary.json")


def stars_of(row: MasterRow, batch_rows: list[MasterRow], board: Board) -> tuple[int | None, str, list[int] | None]:
    """(stars, where they come from, the range the row's energy interval allows): the board's bands when it has
    the group's range, else this batch's."""
    official = rate_against([row], board)
    if official.ratings:
        first = official.ratings[0]
        outside = " (outside its range)" if first.note and "outside" in first.note else ""
        return first.stars, f"against the {board.label()}{outside}", first.stars_range
    own = rate(batch_rows or [row])
    for rating in own.ratings:
        if rating.model_name == row.model_name and rating.reasoning_state == (row.reasoning_state or ""):
            return rating.stars, "within this batch (no board range for its group)", rating.stars_range
    why = own.left_out[0][2] if own.left_out else "no measured energy"
    return None, f"not rated: {why}", None


def hardware_of(summary: BatchRunSummary) -> str:
    used = summary.protocol.get("gpus_used") if summary.protocol else None
    if used:
        return f"{len(used)} x {used[0]}"
    gpus = (summary.measured_devices or {}).get("gpus") or []
    if gpus:
        names = {g.get("index"): g.get("name") for g in summary.hardware.gpus}
        return f"{len(gpus)} x {names.get(gpus[0], 'GPU')}"
    cpu = (summary.hardware.cpu or {}).get("model")
    return f"CPU only ({cpu})" if cpu else "CPU only"


def label_facts(summary: BatchRunSummary, batch_rows: list[MasterRow], board: Board) -> LabelFacts:
    row = summary.results
    stars, basis, stars_range = stars_of(row, batch_rows, board)
    return LabelFacts(
        model=row.model_name,
        task=row.task or "text_gen",
        model_class=row.model_class or "",
        reasoning_state=row.reasoning_state or "",
        wh_per_1000_queries=row.wh_per_1000_queries,
        stars=stars,
        stars_basis=basis,
        hardware=hardware_of(summary),
        date=(row.timestamp or "")[:10],
        protocol=row.protocol or "wattbench",
        comparable=row.comparable,
        note=row.not_comparable_reason,
        stars_range=stars_range,
    )


def batch_label_facts(output_dir: Path, board: Board) -> list[LabelFacts]:
    """A label for each completed run of a batch folder (the HTML report shows them)."""
    from wattbench.report.reasoning import textgen_rows

    batch = BatchDir(output_dir)
    rows = textgen_rows(batch.read_master()) if batch.master_csv.exists() else []  # wattbot rows have no label
    facts = []
    for row in rows:
        folder = next((p for p in sorted((output_dir / "individual_runs").glob("*")) if _is_run(p, row)), None)
        if folder is not None and row.status == "completed":
            facts.append(label_facts(read_summary(folder), rows, board))
    return facts


def _is_run(folder: Path, row: MasterRow) -> bool:
    return (folder / "summary.json").exists() and read_summary(folder).run_id == row.run_id
