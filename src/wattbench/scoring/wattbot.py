"""The WattBot metric over whole files: overall = 0.75·value + 0.15·ref + 0.10·NA.

Two modes:
- `kaggle`: the official competition metric to the last digit. Both files are read as the official code reads
  them (`pandas.read_csv` defaults, then text), so an empty cell or a literal NA becomes the text "nan", which is
  not blank. Only ids present in both files are scored; the NA term is the mean over all scored rows of
  (solution blank → submission blank, otherwise 1).
- `lenient`: submissions are normalised first (`values.normalize_value`), cells are read as written, missing
  submission rows score 0, and the NA term is the recall over the solution's blank rows.
Everything is a single pass over plain lists, so the cost is linear in rows.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from wattbench.data.textio import read_csv_records, read_text
from wattbench.data.wattbot import EVIDENCE_COLUMNS, is_blank_value
from wattbench.errors import DataError
from wattbench.scoring.values import normalize_value, ref_overlap, value_matches

Mode = Literal["kaggle", "lenient"]
MODES: tuple[Mode, ...] = ("kaggle", "lenient")
WEIGHT_VALUE, WEIGHT_REF, WEIGHT_NA = 0.75, 0.15, 0.10
SOLUTION_COLUMNS = ("id", "answer_value", "answer_unit", "ref_id")
SUBMISSION_COLUMNS = ("id", "answer_value", "answer_unit", "ref_id")
_TRUTHY = frozenset({"1", "1.0", "true", "t", "yes", "y"})


@dataclass(frozen=True)
class CellTable:
    """A question file reduced to text cells per column; `record_numbers` are CSV rows (header = 1) for errors."""

    path: str
    columns: list[str]
    cells: dict[str, list[str]]
    record_numbers: list[int]

    def __len__(self) -> int:
        return len(self.record_numbers)

    def require(self, names: tuple[str, ...], role: str) -> None:
        missing = [n for n in names if n not in self.cells]
        if missing:
            raise DataError(
                f"{self.path}: {role} file is missing required column '{missing[0]}' "
                f"(columns found: {', '.join(self.columns) or 'none'})"
            )

    def subset(self, ids: set[str]) -> CellTable:
        """The rows whose id is in `ids`, in file order: a run over some questions is scored over those only."""
        keep = [i for i, qid in enumerate(self.cells["id"]) if qid in ids]
        return CellTable(
            path=self.path,
            columns=self.columns,
            record_numbers=[self.record_numbers[i] for i in keep],
            cells={c: [v[i] for i in keep] for c, v in self.cells.items()},
        )


def _official_text(value: object, pandas_na: object) -> str:
    # pandas 2's astype(str) wrote missing cells as "nan"; pandas 3 keeps them missing. Do it by hand so the
    # official behaviour holds on every pandas version. pd.NA is checked first: comparing it raises.
    if value is None or value is pandas_na or value != value:  # noqa: PLR0124 — NaN is unequal to itself
        return "nan"
    return str(value)


def _read_official(path: Path, wanted: tuple[str, ...]) -> CellTable:
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(read_text(path)))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    names = {str(c).strip(): c for c in frame.columns}
    cells = {n: [_official_text(v, pd.NA) for v in frame[names[n]].tolist()] for n in wanted if n in names}
    return CellTable(path=str(path), columns=list(names), cells=cells, record_numbers=list(range(2, len(frame) + 2)))


def _read_as_written(path: Path, wanted: tuple[str, ...]) -> CellTable:
    # The csv module, not pandas: cells must stay exactly as written, and this mode then needs no pandas import.
    header, rows = read_csv_records(path)
    positions = {n: header.index(n) for n in wanted if n in header}
    cells: dict[str, list[str]] = {n: [] for n in positions}
    records: list[int] = []
    for number, row in rows:
        for name, position in positions.items():
            cells[name].append(row[position])
        records.append(number)
    if "id" in cells:
        cells["id"] = [v.strip() for v in cells["id"]]
    return CellTable(path=str(path), columns=header, cells=cells, record_numbers=records)


def read_cells(path: Path, mode: Mode, wanted: tuple[str, ...]) -> CellTable:
    """Read a CSV for scoring; only the `wanted` columns are kept.

    kaggle: as the official metric reads it (pandas defaults: NA values, type inference), then text.
    lenient: every cell as written (an empty cell is "", a literal NA is the text NA).
    """
    return (_read_official if mode == "kaggle" else _read_as_written)(Path(path), wanted)


def _index_ids(table: CellTable) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, qid in enumerate(table.cells["id"]):
        if qid in index:
            first, again = table.record_numbers[index[qid]], table.record_numbers[position]
            raise DataError(f"{table.path}: duplicate id '{qid}' at rows {first} and {again}; ids must be unique")
        index[qid] = position
    return index


@dataclass(slots=True)
class RowScore:
    """How one question scored. `na_correct` is True for answerable questions (nothing to abstain from)."""

    id: str
    value_correct: bool
    unit_correct: bool
    ref_score: float
    na_correct: bool
    solution_blank: bool
    submission_blank: bool
    missing: bool
    expected_value: str
    submitted_value: str
    expected_ref: str
    submitted_ref: str

    @property
    def weighted(self) -> float:
        return WEIGHT_VALUE * self.value_correct + WEIGHT_REF * self.ref_score + WEIGHT_NA * self.na_correct

    def reasons(self) -> list[str]:
        if self.missing:
            return ["missing from submission"]
        out = []
        if not self.value_correct:
            out.append("value")
        if self.ref_score < 1.0:
            out.append(f"ref {self.ref_score:.2f}")
        if not self.na_correct:
            out.append("should abstain")
        elif not self.solution_blank and self.submission_blank:
            out.append("abstained")
        return out


def score_row(
    qid: str,
    solution_value: str,
    solution_unit: str,
    solution_ref: str,
    submission_value: str,
    submission_unit: str,
    submission_ref: str,
    mode: Mode = "lenient",
) -> RowScore:
    """Score one question. In lenient mode the submitted value is normalised first."""
    compared = normalize_value(submission_value) if mode == "lenient" else submission_value
    solution_blank = is_blank_value(solution_value)
    submission_blank = is_blank_value(submission_value)
    return RowScore(
        id=qid,
        value_correct=value_matches(solution_value, compared),
        unit_correct=solution_unit.strip().lower() == submission_unit.strip().lower(),
        ref_score=ref_overlap(solution_ref, submission_ref),
        na_correct=submission_blank if solution_blank else True,
        solution_blank=solution_blank,
        submission_blank=submission_blank,
        missing=False,
        expected_value=solution_value,
        submitted_value=submission_value,
        expected_ref=solution_ref,
        submitted_ref=submission_ref,
    )


def _missing_row(qid: str, solution_value: str, solution_ref: str) -> RowScore:
    return RowScore(
        id=qid,
        value_correct=False,
        unit_correct=False,
        ref_score=0.0,
        na_correct=False,
        solution_blank=is_blank_value(solution_value),
        submission_blank=True,
        missing=True,
        expected_value=solution_value,
        submitted_value="",
        expected_ref=solution_ref,
        submitted_ref="",
    )


def _mean(values: list[float]) -> float:
    # numpy's pairwise sum, as pandas' Series.mean uses, so kaggle-mode figures agree to the last bit.
    import numpy as np

    return float(np.asarray(values, dtype=np.float64).sum() / len(values))


@dataclass
class ScoreReport:
    mode: Mode
    overall: float
    value_accuracy: float
    ref_overlap: float
    na_term: float
    na_recall: float
    unit_accuracy: float
    n_scored: int
    n_missing: int
    n_extra: int
    n_unanswerable: int
    false_abstentions: int
    answered_unanswerable: int
    by_evidence: dict[str, dict[str, float | int]]
    worst: list[dict[str, Any]]
    missing_ids: list[str] = field(default_factory=list)
    extra_ids: list[str] = field(default_factory=list)
    rows: list[RowScore] = field(default_factory=list, repr=False)
    intervals: dict[str, list[float] | None] | None = field(default=None, repr=False)
    """Each figure's bootstrap interval (scoring/intervals.with_intervals), under `interval_key` in to_dict."""
    interval_key: str = "ci95"
    bootstrap: dict[str, Any] | None = None
    """How the intervals were drawn: method, resamples, seed, level."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreReport:
        """A report as to_dict wrote it (a summary's `scores`), without its rows."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "rows"}
        key = next((k for k, v in data.items() if k.startswith("ci") and isinstance(v, dict)), None)
        if key is not None:
            known.update(intervals=data[key], interval_key=key)
        return cls(**known)

    def to_dict(self, with_rows: bool = False) -> dict[str, Any]:
        # Not dataclasses.asdict(self): it would deep-copy every row only to drop them.
        hidden = {"rows", "intervals", "interval_key", "bootstrap"}
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        if self.intervals is not None:
            out[self.interval_key] = self.intervals
            out["bootstrap"] = self.bootstrap
        if with_rows:
            out["rows"] = [asdict(r) | {"weighted": r.weighted} for r in self.rows]
        return out


def _by_evidence(solution: CellTable, positions: list[int], rows: list[RowScore]) -> dict[str, dict[str, float | int]]:
    out: dict[str, dict[str, float | int]] = {}
    for label in EVIDENCE_COLUMNS:
        column = solution.cells.get(label)
        if column is None:
            continue
        hits = [r for p, r in zip(positions, rows) if column[p].strip().lower() in _TRUTHY]
        if hits:
            correct = sum(r.value_correct for r in hits)
            out[label] = {"n": len(hits), "correct": correct, "accuracy": correct / len(hits)}
    return out


def _worst(rows: list[RowScore], limit: int = 5) -> list[dict[str, Any]]:
    wrong = sorted((r for r in rows if r.weighted < 1.0), key=lambda r: r.weighted)  # stable: file order on ties
    return [
        {
            "id": r.id,
            "expected": r.expected_value,
            "got": r.submitted_value,
            "expected_ref": r.expected_ref,
            "got_ref": r.submitted_ref,
            "score": r.weighted,
            "reasons": r.reasons(),
        }
        for r in wrong[:limit]
    ]


def _check_columns(solution: CellTable, submission: CellTable, mode: Mode) -> None:
    solution.require(SOLUTION_COLUMNS, "solution")
    submission.require(SUBMISSION_COLUMNS + (("explanation",) if mode == "kaggle" else ()), "submission")
    if mode == "kaggle":
        for text, record in zip(submission.cells["explanation"], submission.record_numbers):
            if not text.strip():
                raise DataError(
                    f"{submission.path}: row {record}: empty explanation; the official metric rejects the file "
                    "(write one, or score with --mode lenient)"
                )


def _score_rows(
    solution: CellTable, submission: CellTable, solution_ids: dict[str, int], submission_ids: dict[str, int],
    mode: Mode,
) -> tuple[list[RowScore], list[int]]:  # fmt: skip
    """(each scored row, its position in the solution), in solution order."""
    s, u = solution.cells, submission.cells
    rows: list[RowScore] = []
    positions: list[int] = []
    for qid, i in solution_ids.items():
        j = submission_ids.get(qid)
        if j is None:
            if mode == "kaggle":
                continue  # the official metric scores the inner join only
            rows.append(_missing_row(qid, s["answer_value"][i], s["ref_id"][i]))
        else:
            solution_cells = (s["answer_value"][i], s["answer_unit"][i], s["ref_id"][i])
            submitted = (u["answer_value"][j], u["answer_unit"][j], u["ref_id"][j])
            rows.append(score_row(qid, *solution_cells, *submitted, mode))
        positions.append(i)
    return rows, positions


def score_tables(solution: CellTable, submission: CellTable, mode: Mode = "kaggle") -> ScoreReport:
    """Score a submission against a solution; see the module docstring for what each mode does."""
    if mode not in MODES:
        raise DataError(f"unknown scoring mode '{mode}'; use one of: {', '.join(MODES)}")
    _check_columns(solution, submission, mode)
    solution_ids = _index_ids(solution)
    submission_ids = _index_ids(submission)
    missing_ids = [q for q in solution_ids if q not in submission_ids]
    extra_ids = [q for q in submission_ids if q not in solution_ids]
    if len(missing_ids) == len(solution_ids):
        raise DataError(
            f"no id of {submission.path} is in {solution.path}; pass the solution file first, then the submission"
        )
    rows, positions = _score_rows(solution, submission, solution_ids, submission_ids, mode)
    return report_of(mode, solution, rows, positions, missing_ids, extra_ids)


def report_of(
    mode: Mode, solution: CellTable, rows: list[RowScore], positions: list[int],
    missing_ids: list[str] | None = None, extra_ids: list[str] | None = None,
) -> ScoreReport:  # fmt: skip
    """The aggregate of scored rows (each with its position in `solution`, in solution order)."""
    missing_ids, extra_ids = missing_ids or [], extra_ids or []
    value_accuracy = _mean([float(r.value_correct) for r in rows])
    unit_accuracy = _mean([float(r.unit_correct) for r in rows])
    ref_mean = _mean([r.ref_score for r in rows])
    unanswerable = [r for r in rows if r.solution_blank]
    na_recall = _mean([float(r.na_correct) for r in unanswerable]) if unanswerable else 1.0
    na_term = _mean([float(r.na_correct) for r in rows]) if mode == "kaggle" else na_recall
    # Same operation order as the official code (its unit term has weight 0), so floats agree exactly.
    overall = WEIGHT_VALUE * value_accuracy + 0.00 * unit_accuracy + WEIGHT_REF * ref_mean + WEIGHT_NA * na_term
    return ScoreReport(
        mode=mode,
        overall=overall,
        value_accuracy=value_accuracy,
        ref_overlap=ref_mean,
        na_term=na_term,
        na_recall=na_recall,
        unit_accuracy=unit_accuracy,
        n_scored=len(rows),
        n_missing=len(missing_ids),
        n_extra=len(extra_ids),
        n_unanswerable=len(unanswerable),
        false_abstentions=sum(1 for r in rows if not r.solution_blank and r.submission_blank and not r.missing),
        answered_unanswerable=sum(1 for r in rows if r.solution_blank and not r.submission_blank),
        by_evidence=_by_evidence(solution, positions, rows),
        worst=_worst(rows),
        missing_ids=missing_ids,
        extra_ids=extra_ids,
        rows=rows,
    )


def score_files(
    solution_path: Path, submission_path: Path, mode: Mode = "kaggle", only_submitted: bool = False
) -> ScoreReport:
    """Read both files the way `mode` prescribes and score them. `only_submitted`: score over the questions the
    submission has (a run with --limit is scored as the run itself scored it), not over the whole solution."""
    if mode not in MODES:
        raise DataError(f"unknown scoring mode '{mode}'; use one of: {', '.join(MODES)}")
    solution = read_cells(Path(solution_path), mode, SOLUTION_COLUMNS + EVIDENCE_COLUMNS)
    submission = read_cells(Path(submission_path), mode, SUBMISSION_COLUMNS + ("explanation",))
    if only_submitted and "id" in submission.cells and "id" in solution.cells:
        solution = solution.subset(set(submission.cells["id"]))
    return score_tables(solution, submission, mode)
