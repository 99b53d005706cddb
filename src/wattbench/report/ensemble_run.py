"""An ensemble as a run dir: read the member runs, decide, write submission.csv, results.jsonl and a scored
summary.json, so the matrix, the audit and the report treat it like any other run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from wattbench.data.textio import read_csv_table
from wattbench.data.wattbot import QUESTION_COLUMNS
from wattbench.errors import DataError
from wattbench.report.ensemble import ensemble, summary_of
from wattbench.scoring.wattbot import MODES, score_files
from wattbench.store.rundir import RunDir


def resolve_run(name_or_path: str, experiments_dir: Path) -> Path:
    """A run given by name (a dir under `experiments_dir`) or by path; it must hold a submission.csv."""
    candidates = [Path(name_or_path), Path(experiments_dir) / name_or_path]
    for path in candidates:
        if (path / "submission.csv").exists():
            return path
    raise DataError(f"run '{name_or_path}': no submission.csv in {candidates[0]} or {candidates[1]}")


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    """question id → submission row, cells as written."""
    table = read_csv_table(path)
    table.require("id", "answer_value", "ref_id")
    return {row["id"].strip(): row for row in table.rows}


def run_ensemble(
    runs: list[str],
    name: str,
    *,
    experiments_dir: Path,
    strategy: str = "majority",
    ignore_blank: bool = False,
    solution: Path | None = None,
    calibration: Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write `<experiments_dir>/<name>/` and return its summary (scored against `solution` when given)."""
    paths = [resolve_run(r, experiments_dir) for r in runs]
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise DataError(f"--experiments: a run is given twice ({', '.join(names)})")
    out = RunDir(Path(experiments_dir) / name)
    if out.path.exists() and any(out.path.iterdir()) and not force:
        raise DataError(f"{out.path} already exists; pick another --name or pass --force")
    if out.path.resolve() in [p.resolve() for p in paths]:
        raise DataError(f"--name {name}: the ensemble would overwrite one of its own runs")
    run_rows = {n: read_rows(p / "submission.csv") for n, p in zip(names, paths)}
    calib = read_rows(calibration) if calibration else (read_rows(solution) if solution else None)
    decisions = ensemble(run_rows, strategy, ignore_blank=ignore_blank, calibration=calib)
    out.path.mkdir(parents=True, exist_ok=True)
    out.results_jsonl.unlink(missing_ok=True)
    for d in decisions:
        out.append_result(
            {
                "id": d.id,
                "pred_value": d.row.get("answer_value", ""),
                "pred_ref": d.row.get("ref_id", ""),
                "winner": d.winner,
                "voters": d.voters,
                "tally": d.tally,
                "submission": {c: d.row.get(c, "") for c in QUESTION_COLUMNS},
            }
        )
    submission = out.write_submission(
        [{c: d.row.get(c, "") for c in QUESTION_COLUMNS} for d in decisions], QUESTION_COLUMNS
    )
    scores: dict[str, Any] = {}
    if solution is not None:
        for mode in MODES:
            try:
                scores[mode] = score_files(solution, submission, mode, only_submitted=True).to_dict()
            except DataError as exc:
                scores[mode] = {"error": str(exc)}
    summary = {
        "schema_version": 1,
        "name": name,
        "kind": "ensemble",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "members": names,
        "strategy": strategy,
        "ignore_blank": ignore_blank,
        "calibration": str(calibration or solution) if strategy == "confidence" else None,
        "num_questions": len(decisions),
        "overall_score": scores.get("kaggle", {}).get("overall"),
        "scores": scores,
        "ensemble": summary_of(decisions, len(names)),
        "config": {"name": name, "provider": "ensemble", "model": "+".join(names)},
    }
    out.write_json("summary.json", summary)
    return summary
