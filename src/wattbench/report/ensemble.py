"""Ensembles of runs: per question, one answer chosen from the runs' answers.

Votes are on normalised values, so "13,900" and "13900" agree. The winner's references are the union over the
runs that voted for it. Strategies:
- `majority`: the most votes; ties go to the value the earliest run (in the order given) voted for.
- `first_non_blank`: the first run, in the order given, with a non-blank answer.
- `confidence`: each vote weighs the run's mean WattBot score on calibration questions, leaving out the question
  being answered, so no run is weighted by how well it answered that very question.
With `ignore_blank`, blank votes count only when no run answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wattbench.data.wattbot import is_blank_value, parse_ref_ids
from wattbench.errors import DataError
from wattbench.scoring.values import normalize_value
from wattbench.scoring.wattbot import score_row

STRATEGIES = ("majority", "first_non_blank", "confidence")
BLANK = "is_blank"


@dataclass(frozen=True)
class Vote:
    run: str
    value: str  # as the run wrote it
    unit: str
    refs: tuple[str, ...]
    row: dict[str, str]  # the run's submission row (answer, explanation, ...)

    @property
    def key(self) -> str:
        return BLANK if is_blank_value(self.value) else normalize_value(self.value)


@dataclass
class Decision:
    id: str
    row: dict[str, str]
    winner: str
    voters: list[str]
    tally: dict[str, float] = field(default_factory=dict)
    answered_by: int = 0  # runs that answered the question


def _tally(votes: list[Vote], weight: Callable[[Vote], float], ignore_blank: bool) -> dict[str, float]:
    counted = [v for v in votes if not (ignore_blank and v.key == BLANK)] or votes
    tally: dict[str, float] = {}
    for vote in counted:  # insertion order = the runs' order, which breaks ties
        tally[vote.key] = tally.get(vote.key, 0.0) + weight(vote)
    return tally


def decide(
    qid: str,
    votes: list[Vote],
    strategy: str,
    *,
    ignore_blank: bool = False,
    weight: Callable[[Vote], float] | None = None,
) -> Decision:
    """The ensemble's answer to one question."""
    if strategy not in STRATEGIES:
        raise DataError(f"--strategy: unknown '{strategy}'; use one of: {', '.join(STRATEGIES)}")
    if not votes:
        raise DataError(f"question {qid}: no run answered it")
    if strategy == "first_non_blank":
        chosen = next((v for v in votes if v.key != BLANK), votes[0])
        tally = {chosen.key: 1.0}
        winner = chosen.key
    else:
        tally = _tally(votes, weight or (lambda v: 1.0), ignore_blank)
        winner = max(tally, key=lambda k: tally[k])  # max keeps the first of equal counts
    voters = [v for v in votes if v.key == winner]
    refs: list[str] = []
    for vote in voters:
        refs += [r for r in vote.refs if r not in refs]
    row = dict(voters[0].row)
    if winner != BLANK:
        row["ref_id"] = str(refs) if refs else BLANK
    return Decision(qid, row, winner, [v.run for v in voters], tally, len(votes))


def calibration_weights(
    run_rows: dict[str, dict[str, dict[str, str]]], solution: dict[str, dict[str, str]]
) -> Callable[[str, str], float]:
    """weight(run, question): the run's mean score on the calibration questions other than `question`."""
    scores: dict[str, dict[str, float]] = {}
    for run, rows in run_rows.items():
        per_question = {}
        for qid, truth in solution.items():
            if qid in rows:
                mine = rows[qid]
                per_question[qid] = score_row(
                    qid,
                    truth["answer_value"],
                    truth.get("answer_unit", ""),
                    truth["ref_id"],
                    mine.get("answer_value", ""),
                    mine.get("answer_unit", ""),
                    mine.get("ref_id", ""),
                    "lenient",
                ).weighted
        if not per_question:
            raise DataError(f"run '{run}' answered none of the calibration questions; pass --calibration")
        scores[run] = per_question

    def weight(run: str, qid: str) -> float:
        others = [s for q, s in scores[run].items() if q != qid]
        return sum(others) / len(others) if others else 0.0

    return weight


def ensemble(
    run_rows: dict[str, dict[str, dict[str, str]]],
    strategy: str = "majority",
    *,
    ignore_blank: bool = False,
    calibration: dict[str, dict[str, str]] | None = None,
) -> list[Decision]:
    """Decide every question answered by any run. `run_rows`: run → question id → its submission row, in the
    order the runs were given."""
    if len(run_rows) < 2:
        raise DataError("an ensemble needs at least two runs")
    weigh: Callable[[str, str], float] | None = None
    if strategy == "confidence":
        if not calibration:
            raise DataError("--strategy confidence needs calibration questions with answers")
        weigh = calibration_weights(run_rows, calibration)
    ids: list[str] = []
    for rows in run_rows.values():
        ids += [q for q in rows if q not in ids]
    decisions = []
    for qid in ids:
        votes = [
            Vote(run, r.get("answer_value", ""), r.get("answer_unit", ""), parse_ref_ids(r.get("ref_id", "")), r)
            for run, rows in run_rows.items()
            if (r := rows.get(qid)) is not None
        ]
        weight = (lambda v, q=qid: weigh(v.run, q)) if weigh else None
        decisions.append(decide(qid, votes, strategy, ignore_blank=ignore_blank, weight=weight))
    return decisions


def summary_of(decisions: list[Decision], runs: int) -> dict[str, Any]:
    """How much the runs agreed: unanimous (every run answered, one value), split, or answered by fewer runs."""
    full = [d for d in decisions if d.answered_by == runs]
    unanimous = sum(1 for d in full if len(d.tally) == 1)
    return {
        "questions": len(decisions),
        "unanimous": unanimous,
        "split": len(full) - unanimous,
        "answered_by_fewer_runs": len(decisions) - len(full),
    }
