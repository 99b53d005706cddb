"""Intervals and paired comparisons of WattBot scores, by resampling questions (stats/).

Each scored question is a row of five columns (value correct, ref overlap, NA correct, solution blank, and NA
correct on a blank solution); every figure of the score report is a function of their sums, so the bootstrap
resamples questions once and computes all of them, in the scorer's own definitions (kaggle: the NA term is the
mean over all rows; lenient: the recall over the unanswerable ones, 1.0 when there are none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wattbench.scoring.wattbot import WEIGHT_NA, WEIGHT_REF, WEIGHT_VALUE, Mode, RowScore, ScoreReport
from wattbench.stats.bootstrap import Bootstrap, Draws, Statistic, Sums, draws
from wattbench.stats.paired import detectable, mcnemar_exact, permutation_p

COLUMNS = ["value", "ref", "na", "blank", "na_blank"]
FIGURES = ("overall", "value_accuracy", "ref_overlap", "na_term", "na_recall")


def row_matrix(rows: Sequence[RowScore]) -> np.ndarray:
    """Questions x COLUMNS."""
    return np.array(
        [(r.value_correct, r.ref_score, r.na_correct, r.solution_blank, r.na_correct and r.solution_blank)
         for r in rows],
        dtype=np.float64,
    ).reshape(len(rows), len(COLUMNS))  # fmt: skip


def _recall(sums: Sums, count: np.ndarray) -> np.ndarray:
    blank = sums["blank"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(blank > 0, sums["na_blank"] / np.where(blank > 0, blank, 1), 1.0)


def statistics(mode: Mode) -> dict[str, Statistic]:
    """Each figure of the report as a function of the column sums, as scoring/wattbot.report_of defines it."""

    def value(s: Sums, n: np.ndarray) -> np.ndarray:
        return s["value"] / n

    def ref(s: Sums, n: np.ndarray) -> np.ndarray:
        return s["ref"] / n

    def na_term(s: Sums, n: np.ndarray) -> np.ndarray:
        return s["na"] / n if mode == "kaggle" else _recall(s, n)

    def overall(s: Sums, n: np.ndarray) -> np.ndarray:
        return WEIGHT_VALUE * value(s, n) + WEIGHT_REF * ref(s, n) + WEIGHT_NA * na_term(s, n)

    return {"overall": overall, "value_accuracy": value, "ref_overlap": ref, "na_term": na_term,
            "na_recall": _recall}  # fmt: skip


def score_draws(rows: Sequence[RowScore], mode: Mode, spec: Bootstrap) -> dict[str, Draws]:
    return draws(row_matrix(rows), COLUMNS, statistics(mode), spec)


def score_intervals(rows: Sequence[RowScore], mode: Mode, spec: Bootstrap) -> dict[str, list[float] | None]:
    """Each figure's interval at spec.level; None for NA recall without unanswerable questions (nothing to
    resample), and for every figure on fewer than 2 questions."""
    if len(rows) < 2:
        return {name: None for name in FIGURES}
    found = score_draws(rows, mode, spec)
    has_blank = any(r.solution_blank for r in rows)
    out: dict[str, list[float] | None] = {}
    for name in FIGURES:
        if name == "na_recall" and not has_blank:
            out[name] = None
            continue
        lo, hi = found[name].interval(spec.level)
        out[name] = [lo, hi]
    return out


def with_intervals(report: ScoreReport, spec: Bootstrap | None = None) -> ScoreReport:
    """`report` with its figures' intervals (same input and seed: same intervals)."""
    spec = spec or Bootstrap()
    report.intervals = score_intervals(report.rows, report.mode, spec)
    report.interval_key = spec.key
    report.bootstrap = spec.describe()
    return report


@dataclass(frozen=True)
class PairedScore:
    """Run A against run B on the questions both answered: the overall score's difference A - B."""

    n: int
    diff: float
    interval: tuple[float, float]
    p_value: float
    se: float
    detectable: float
    """The smallest true difference these questions detect with 80% power at alpha = 1 - level."""
    only_a_correct: int
    only_b_correct: int
    mcnemar_p: float
    figures: dict[str, float]
    """Each figure's difference A - B (value_accuracy, ref_overlap, na_term)."""


def paired_score(rows_a: Sequence[RowScore], rows_b: Sequence[RowScore], mode: Mode, spec: Bootstrap) -> PairedScore:
    """Paired bootstrap interval, permutation p-value and McNemar test of A - B; rows aligned by question."""
    n = len(rows_a)
    a, b = row_matrix(rows_a), row_matrix(rows_b)
    stats = statistics(mode)
    both = np.concatenate([a, b], axis=1)
    names = [f"a_{c}" for c in COLUMNS] + [f"b_{c}" for c in COLUMNS]

    def side(sums: Sums, prefix: str) -> Sums:
        return {c: sums[f"{prefix}_{c}"] for c in COLUMNS}

    def diff_of(name: str) -> Statistic:
        return lambda s, count: stats[name](side(s, "a"), count) - stats[name](side(s, "b"), count)

    found = draws(both, names, {name: diff_of(name) for name in ("overall", "value_accuracy", "ref_overlap",
                                                                  "na_term")}, spec)  # fmt: skip
    overall = found["overall"]
    only_a = int(np.count_nonzero((a[:, 0] == 1) & (b[:, 0] == 0)))
    only_b = int(np.count_nonzero((a[:, 0] == 0) & (b[:, 0] == 1)))
    alpha = 1 - spec.level
    return PairedScore(
        n=n, diff=overall.point, interval=overall.interval(spec.level),
        p_value=permutation_p(a, b, COLUMNS, stats["overall"], spec), se=overall.se,
        detectable=detectable(overall.se, alpha), only_a_correct=only_a, only_b_correct=only_b,
        mcnemar_p=mcnemar_exact(only_a, only_b),
        figures={name: found[name].point for name in ("value_accuracy", "ref_overlap", "na_term")},
    )  # fmt: skip
