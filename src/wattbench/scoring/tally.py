"""A run's scores kept as it goes: each question is scored once, when its record is stored.

A run used to rewrite submission.csv after every question, read it back and score the whole file in both modes:
quadratic in the number of questions. The tally scores the new question's row alone (O(1)) and aggregates the
rows it holds when asked. The solution file is read once per mode.

In kaggle mode the official reader parses the whole file with pandas, so a cell's text can depend on its column
(a column of numbers reads "2" as "2.0"). The rule that decides a value compares numbers as numbers, so a row
scores the same read alone; the run's final scores are still taken from submission.csv as the official code
reads it (`runs/outputs.py`), and a test checks that the two agree.
"""

from __future__ import annotations

from pathlib import Path

from wattbench.data.wattbot import EVIDENCE_COLUMNS
from wattbench.scoring.wattbot import (
    MODES,
    SOLUTION_COLUMNS,
    CellTable,
    Mode,
    RowScore,
    ScoreReport,
    read_cells,
    report_of,
    score_row,
)

PANDAS_NA_TEXTS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
    "NULL", "NaN", "None", "n/a", "nan", "null",
})  # fmt: skip
"""The cells pandas.read_csv reads as missing by default, which the official metric then writes as "nan"."""


def official_cell(text: str) -> str:
    """One submission cell's text as the official reader leaves it (a missing cell becomes "nan")."""
    return "nan" if text in PANDAS_NA_TEXTS else text


class ScoreTally:
    """The scored rows of one run, by question id, in both modes."""

    def __init__(self, solutions: dict[Mode, CellTable]) -> None:
        # A question file without the answer columns (a test set) is not scored, as by the file scorer.
        solutions = {m: t for m, t in solutions.items() if all(c in t.cells for c in SOLUTION_COLUMNS)}
        self._solutions = solutions
        self._index = {mode: {qid: i for i, qid in enumerate(t.cells["id"])} for mode, t in solutions.items()}
        self._rows: dict[Mode, dict[str, tuple[int, RowScore]]] = {mode: {} for mode in solutions}
        self._answerable: set[str] = set()

    @classmethod
    def for_questions(cls, questions_path: Path, ids: list[str]) -> ScoreTally:
        """The tally for a run over `ids` of `questions_path` (read once per mode)."""
        keep = set(ids)
        wanted = SOLUTION_COLUMNS + EVIDENCE_COLUMNS
        return cls({mode: read_cells(questions_path, mode, wanted).subset(keep) for mode in MODES})

    def add(self, qid: str, submission: dict[str, str]) -> None:
        """Score question `qid` from its submission row (replacing an earlier row of the same question)."""
        for mode, solution in self._solutions.items():
            position = self._index[mode].get(qid)
            if position is None:
                continue  # not a question of this run's solution: the file scorer would leave it out too
            cells = solution.cells
            value, unit, ref = (str(submission.get(k) or "") for k in ("answer_value", "answer_unit", "ref_id"))
            if mode == "kaggle":
                value, unit, ref = official_cell(value), official_cell(unit), official_cell(ref)
            truth = (cells["answer_value"][position], cells["answer_unit"][position], cells["ref_id"][position])
            self._rows[mode][qid] = (position, score_row(qid, *truth, value, unit, ref, mode))
            if mode == "lenient" and cells["answer_value"][position].strip():
                self._answerable.add(qid)

    def reports(self) -> dict[str, ScoreReport] | None:
        """Both modes over the rows so far; None before any row, or when the questions carry no answers."""
        if not self._answerable:
            return None
        out: dict[str, ScoreReport] = {}
        for mode, rows in self._rows.items():
            ordered = sorted(rows.values(), key=lambda pair: pair[0])
            out[mode] = report_of(mode, self._solutions[mode], [r for _, r in ordered], [p for p, _ in ordered])
        return out
