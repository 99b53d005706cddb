"""Per-question comparisons between runs: evidence types, agreement, unique wins, refusals.

Everything here is computed from the runs' submissions scored against one solution file, the same cells the
results matrix holds, so a figure in a plot can be traced to a row of `wattbench matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wattbench.data.wattbot import EVIDENCE_COLUMNS, is_blank_value
from wattbench.errors import DataError
from wattbench.report.runs import RunInfo
from wattbench.scoring.values import normalize_value
from wattbench.scoring.wattbot import RowScore, read_cells, score_files


def evidence_type(explanation: str, flags: dict[str, str]) -> str:
    """Where the answer is found. The test file has one column per type (Quote, Table, Figure, Math, is_NA);
    the train file says it in the explanation cell ("Quote", "Table 3", "is_blank", or a worked calculation)."""
    for column in EVIDENCE_COLUMNS:
        if flags.get(column, "").strip().lower() in ("1", "true", "yes"):
            return "unanswerable" if column == "is_NA" else column.lower()
    text = explanation.strip().lower()
    for label in ("quote", "table", "figure"):
        if text.startswith(label):
            return label
    if text in ("is_blank", ""):
        return "unanswerable" if text else "unknown"
    return "math"


@dataclass
class QuestionScores:
    """run name → question id → how that run scored; ids and evidence types from the solution file."""

    ids: list[str]
    evidence: dict[str, str]
    unanswerable: set[str]
    by_run: dict[str, dict[str, RowScore]]
    skipped: dict[str, str]
    normalised: dict[str, dict[str, object]] = field(default_factory=dict, repr=False, compare=False)
    """Each run's normalised submitted values, filled on first use (the agreement of every pair reads them)."""


def question_scores(runs: list[RunInfo], solution: Path) -> QuestionScores:
    sol = read_cells(solution, "lenient", ("id", "answer_value", "explanation", *EVIDENCE_COLUMNS))
    sol.require(("id", "answer_value"), "solution")
    ids = sol.cells["id"]
    evidence = {
        qid: evidence_type(
            sol.cells.get("explanation", [""] * len(ids))[i],
            {c: sol.cells[c][i] for c in EVIDENCE_COLUMNS if c in sol.cells},
        )
        for i, qid in enumerate(ids)
    }
    unanswerable = {qid for i, qid in enumerate(ids) if is_blank_value(sol.cells["answer_value"][i])}
    by_run: dict[str, dict[str, RowScore]] = {}
    skipped: dict[str, str] = {}
    for run in runs:
        submission = run.path / "submission.csv"
        if not submission.exists():
            skipped[run.name] = "no submission.csv"
            continue
        try:
            report = score_files(solution, submission, "kaggle")
        except DataError as exc:
            skipped[run.name] = str(exc)
            continue
        by_run[run.name] = {r.id: r for r in report.rows if not r.missing}
    return QuestionScores(list(ids), evidence, unanswerable, by_run, skipped)


def accuracy_by_evidence(scores: QuestionScores, run: str) -> dict[str, tuple[float, int]]:
    """evidence type → (value accuracy, n)."""
    out: dict[str, list[bool]] = {}
    for qid, row in scores.by_run[run].items():
        out.setdefault(scores.evidence.get(qid, "unknown"), []).append(row.value_correct)
    return {kind: (sum(hits) / len(hits), len(hits)) for kind, hits in sorted(out.items())}


def agreement(scores: QuestionScores, a: str, b: str) -> float | None:
    """Share of the questions both runs answered on which their normalised values are equal."""
    shared = set(scores.by_run[a]) & set(scores.by_run[b])
    if not shared:
        return None
    values_a, values_b = _normalised(scores, a), _normalised(scores, b)
    return sum(values_a[q] == values_b[q] for q in shared) / len(shared)


def _normalised(scores: QuestionScores, name: str) -> dict[str, object]:
    """A run's normalised submitted values, computed once per run (the heatmap compares every pair of runs)."""
    if name not in scores.normalised:
        scores.normalised[name] = {q: normalize_value(row.submitted_value) for q, row in scores.by_run[name].items()}
    return scores.normalised[name]


def unique_wins(scores: QuestionScores) -> dict[str, list[str]]:
    """run → the questions it alone answered right (value), among the runs compared."""
    wins: dict[str, list[str]] = {run: [] for run in scores.by_run}
    for qid in scores.ids:
        right = [run for run, rows in scores.by_run.items() if qid in rows and rows[qid].value_correct]
        if len(right) == 1:
            wins[right[0]].append(qid)
    return wins


def refusal_rates(scores: QuestionScores, run: str) -> tuple[float | None, float | None]:
    """(share of answerable questions answered is_blank, share of unanswerable ones answered is_blank)."""
    rows = scores.by_run[run]
    answerable = [r for q, r in rows.items() if q not in scores.unanswerable]
    unanswerable = [r for q, r in rows.items() if q in scores.unanswerable]

    def rate(group: list[RowScore]) -> float | None:
        return sum(r.submission_blank for r in group) / len(group) if group else None

    return rate(answerable), rate(unanswerable)
