"""The results matrix: one row per question, five columns per run, for comparing runs answer by answer.

Columns: `id, question, gt_value, gt_unit, gt_ref`, then for every run `<run>_Value, <run>_Ref, <run>_ValCorrect,
<run>_RefScore, <run>_NACorrect`. A run is a submission CSV (named by its file stem) or a run dir (named by the
dir, read from its submission.csv). Cells are scored with the WattBot metric in the mode asked for; a question a
run did not answer has empty cells. Runs copied in from other machines compare the same way.
"""

from __future__ import annotations

import csv
import glob
import io
from dataclasses import dataclass
from pathlib import Path

from wattbench.data.wattbot import QUESTION_COLUMNS
from wattbench.errors import DataError
from wattbench.report.standings import Standing
from wattbench.scoring.wattbot import Mode, RowScore, read_cells, score_files
from wattbench.store.rundir import write_atomically

RUN_COLUMNS = ("Value", "Ref", "ValCorrect", "RefScore", "NACorrect")
BASE_COLUMNS = ("id", "question", "gt_value", "gt_unit", "gt_ref")


@dataclass(frozen=True)
class RunSource:
    name: str
    submission: Path


def find_sources(patterns: list[str] | None, experiments_dir: Path) -> list[RunSource]:
    """Runs named by glob patterns (files or run dirs), or every run dir with a submission under
    `experiments_dir`; a name used twice is an error (rename one run)."""
    paths: list[Path] = []
    if patterns:
        for pattern in patterns:
            matched = sorted(glob.glob(pattern))
            if not matched:
                raise DataError(f"--submissions '{pattern}' matches nothing")
            paths += [Path(m) for m in matched]
    else:
        paths = sorted(p.parent for p in Path(experiments_dir).glob("*/submission.csv"))
        if not paths:
            raise DataError(f"{experiments_dir}: no run dirs with a submission.csv; run 'wattbench run' first")
    sources: list[RunSource] = []
    for path in paths:
        if path.is_dir():
            if not (path / "submission.csv").exists():
                continue
            sources.append(RunSource(path.name, path / "submission.csv"))
        else:
            # A run dir's own submission.csv is named after its run dir; any other file after its stem.
            sources.append(RunSource(path.parent.name if path.stem == "submission" else path.stem, path))
    names = [s.name for s in sources]
    for name in names:
        if names.count(name) > 1:
            raise DataError(f"two runs are named '{name}'; rename one (a file's name is its stem)")
    return sources


def build_matrix(
    solution: Path,
    sources: list[RunSource],
    mode: Mode = "kaggle",
    by_run: dict[str, dict[str, RowScore]] | None = None,
) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """(columns, rows, warnings). A run the metric rejects (kaggle: an empty explanation) is left out, warned.
    `by_run`, when given, receives each run's scored questions (for the summary's intervals and ties)."""
    questions = read_cells(Path(solution), "lenient", QUESTION_COLUMNS)
    questions.require(("id", "question", "answer_value", "answer_unit", "ref_id"), "solution")
    ids = questions.cells["id"]
    rows = [
        {
            "id": qid,
            "question": questions.cells["question"][i],
            "gt_value": questions.cells["answer_value"][i],
            "gt_unit": questions.cells["answer_unit"][i],
            "gt_ref": questions.cells["ref_id"][i],
        }
        for i, qid in enumerate(ids)
    ]
    by_id = {row["id"]: row for row in rows}
    columns = list(BASE_COLUMNS)
    warnings: list[str] = []
    for source in sources:
        try:
            report = score_files(Path(solution), source.submission, mode)
        except DataError as exc:
            warnings.append(f"run '{source.name}' left out: {exc}")
            continue
        if by_run is not None:
            by_run[source.name] = {r.id: r for r in report.rows if not r.missing}
        columns += [f"{source.name}_{c}" for c in RUN_COLUMNS]
        for scored in report.rows:
            row = by_id.get(scored.id)
            if row is None or scored.missing:
                continue
            row[f"{source.name}_Value"] = scored.submitted_value
            row[f"{source.name}_Ref"] = scored.submitted_ref
            row[f"{source.name}_ValCorrect"] = str(int(scored.value_correct))
            row[f"{source.name}_RefScore"] = f"{scored.ref_score:.4g}"
            row[f"{source.name}_NACorrect"] = str(int(scored.na_correct))
    return columns, rows, warnings


def summary_lines(standings: list[Standing]) -> list[str]:
    """The matrix's summary: each run's overall score with its 95% interval, per question set, and whether it
    is detectably worse than the set's best (report/standings.py)."""
    lines = []
    for label in dict.fromkeys(s.question_set for s in standings):
        lines.append(f"{label}:")
        for s in (s for s in standings if s.question_set == label):
            lo, hi = s.interval or (s.overall, s.overall)
            place = s.place + ("" if s.p_vs_best is None else f" (adjusted p = {s.p_vs_best:.3g})")
            lines.append(f"  {s.name:<24} {s.overall:.4f} [{lo:.4f}, {hi:.4f}]  {place}".rstrip())
    return lines


def write_matrix(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: row.get(c, "") for c in columns} for row in rows)
    from wattbench.store.safe_io import guarded

    with guarded(Path(path).parent, "create"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(Path(path), out.getvalue())
