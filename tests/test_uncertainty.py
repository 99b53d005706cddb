"""Intervals and paired tests (stats/, scoring/intervals.py), checked where they can be wrong: coverage of a known
true score, the false-positive rate and the power of the paired test, McNemar and Holm against hand-computed
cases, the paired ratio on a constructed case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wattbench.errors import ConfigError
from wattbench.scoring.intervals import paired_score, score_intervals, with_intervals
from wattbench.scoring.wattbot import RowScore, score_files
from wattbench.stats.bootstrap import Bootstrap, bca, draws
from wattbench.stats.paired import detectable, holm, mcnemar_exact, paired_ratio, power

P_VALUE, P_BLANK, P_ABSTAIN = 0.6, 0.1, 0.8
REF_LEVELS, REF_PROBS = (0.0, 0.5, 1.0), (0.3, 0.2, 0.5)
TRUE_KAGGLE = 0.75 * P_VALUE + 0.15 * float(np.dot(REF_LEVELS, REF_PROBS)) + 0.10 * (1 - P_BLANK * (1 - P_ABSTAIN))
"""The expected kaggle-mode overall score of the simulated system below."""


def _row(i: int, value: bool, ref: float, blank: bool, abstained: bool) -> RowScore:
    return RowScore(id=f"q{i}", value_correct=value, unit_correct=True, ref_score=ref,
                    na_correct=abstained if blank else True, solution_blank=blank, submission_blank=False,
                    missing=False, expected_value="", submitted_value="", expected_ref="",
                    submitted_ref="")  # fmt: skip


def simulated_rows(rng: np.random.Generator, n: int, p_value: float = P_VALUE) -> list[RowScore]:
    values = rng.random(n) < p_value
    refs = rng.choice(REF_LEVELS, size=n, p=REF_PROBS)
    blanks = rng.random(n) < P_BLANK
    abstains = rng.random(n) < P_ABSTAIN
    return [_row(i, bool(values[i]), float(refs[i]), bool(blanks[i]), bool(abstains[i])) for i in range(n)]


def _coverage(intervals: list[tuple[float, float]], truth: float) -> float:
    return sum(lo <= truth <= hi for lo, hi in intervals) / len(intervals)


def test_the_95_interval_covers_a_known_true_score_about_95_percent_of_the_time():
    rng = np.random.default_rng(2026)
    spec = Bootstrap(resamples=1000, seed=1)
    intervals = []
    for _ in range(400):
        found = score_intervals(simulated_rows(rng, 282), "kaggle", spec)["overall"]
        assert found is not None
        intervals.append((found[0], found[1]))
    coverage = _coverage(intervals, TRUE_KAGGLE)
    assert 0.92 <= coverage <= 0.98, coverage
    # The same check fails an interval made too narrow: 70% of the width covers far less.
    narrow = [((lo + hi) / 2 - 0.35 * (hi - lo), (lo + hi) / 2 + 0.35 * (hi - lo)) for lo, hi in intervals]
    assert not 0.92 <= _coverage(narrow, TRUE_KAGGLE) <= 0.98


def test_intervals_are_seeded_named_for_their_level_and_degenerate_only_where_nothing_varies(wattbot):
    rng = np.random.default_rng(3)
    rows = simulated_rows(rng, 120)
    first = score_intervals(rows, "lenient", Bootstrap(2000, seed=7))
    assert first == score_intervals(rows, "lenient", Bootstrap(2000, seed=7))
    assert first != score_intervals(rows, "lenient", Bootstrap(2000, seed=8))
    assert Bootstrap(level=0.9).key == "ci90" and Bootstrap().key == "ci95"
    report = with_intervals(score_files(wattbot / "train_QA.csv", wattbot / "train_QA.csv", "kaggle"),
                            Bootstrap(level=0.9))  # fmt: skip
    out = report.to_dict()
    assert out["ci90"]["overall"] == [1.0, 1.0] and out["bootstrap"]["method"] == "bca"
    assert out["overall"] == 1.0 and "ci95" not in out  # today's keys kept, the interval beside them
    with pytest.raises(ConfigError, match="--bootstrap: 10 is too few"):
        Bootstrap(resamples=10)
    with pytest.raises(ConfigError, match="--ci-level"):
        Bootstrap(level=95)


def test_bca_matches_the_percentile_interval_on_a_symmetric_statistic_and_corrects_a_skewed_one():
    rng = np.random.default_rng(11)
    symmetric = rng.normal(0.0, 1.0, size=(400, 1))
    mean = {"m": lambda s, n: s["x"] / n}
    found = draws(symmetric, ["x"], mean, Bootstrap(4000, seed=2))["m"]
    lo, hi = found.interval(0.95)
    boot_lo, boot_hi = np.quantile(found.boot, [0.025, 0.975])
    assert lo == pytest.approx(boot_lo, abs=0.02) and hi == pytest.approx(boot_hi, abs=0.02)
    # A rare event (3 in 60): the percentile interval's lower end sits at 0 far more often; BCa moves it up.
    rare = np.zeros((60, 1))
    rare[:3] = 1.0
    skewed = draws(rare, ["x"], mean, Bootstrap(4000, seed=2))["m"]
    assert bca(skewed.point, skewed.boot, skewed.jack, 0.95)[1] > np.quantile(skewed.boot, 0.975)


def test_the_paired_test_calls_one_distribution_different_about_5_percent_of_the_time():
    rng = np.random.default_rng(5)
    spec = Bootstrap(resamples=1000, seed=3)
    calls = 0
    trials = 300
    for _ in range(trials):
        a, b = simulated_rows(rng, 150), simulated_rows(rng, 150)
        calls += paired_score(a, b, "kaggle", spec).p_value < 0.05
    # 300 trials at a true rate of 5%: 15 expected, sd 3.8; a rate outside [2%, 9%] is a miscalibrated test.
    assert 0.02 <= calls / trials <= 0.09, calls


def test_a_known_difference_is_detected_at_the_power_computed_beforehand():
    rng = np.random.default_rng(9)
    n, p_a, p_b = 282, 0.70, 0.60
    # Only the value term differs, each question drawn independently: se of the overall difference known.
    se = 0.75 * math.sqrt((p_a * (1 - p_a) + p_b * (1 - p_b)) / n)
    expected = power(0.75 * (p_a - p_b), se)
    assert 0.6 < expected < 0.8
    spec = Bootstrap(resamples=1000, seed=4)
    detected, trials = 0, 200
    for _ in range(trials):
        base = simulated_rows(rng, n)
        wins_a, wins_b = rng.random(n) < p_a, rng.random(n) < p_b
        a = [_row(i, bool(wins_a[i]), r.ref_score, r.solution_blank, r.na_correct) for i, r in enumerate(base)]
        b = [_row(i, bool(wins_b[i]), r.ref_score, r.solution_blank, r.na_correct) for i, r in enumerate(base)]
        result = paired_score(a, b, "kaggle", spec)
        detected += result.p_value < 0.05 and result.diff > 0
    # 200 trials: sd of the rate about 0.033.
    assert abs(detected / trials - expected) < 0.1, (detected / trials, expected)
    assert detectable(se) == pytest.approx(2.8016 * se, rel=1e-3)


def test_mcnemar_exact_against_hand_computed_cases():
    assert mcnemar_exact(0, 0) == 1.0
    # 1 vs 4 discordant: 2 * P(X <= 1), X ~ Bin(5, 1/2) = 2 * 6/32.
    assert mcnemar_exact(1, 4) == pytest.approx(12 / 32)
    assert mcnemar_exact(4, 1) == pytest.approx(12 / 32)
    # 0 vs 10: 2 / 1024.
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)
    assert mcnemar_exact(5, 5) == 1.0
    assert 0 < mcnemar_exact(2000, 2200) < 0.01  # thousands of pairs neither overflow nor vanish


def test_holm_against_a_hand_computed_case():
    # Sorted 0.01, 0.02, 0.03, 0.04 of 4: 0.04, 0.06, 0.06 (monotone), 0.06.
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.04]) == [0.04]


def test_the_paired_ratio_is_the_geometric_mean_of_per_question_ratios():
    rng = np.random.default_rng(1)
    b = rng.lognormal(3.0, 1.0, size=200)  # per-question energy spans orders of magnitude
    noise = rng.lognormal(0.0, 0.05, size=200)
    a = 0.62 * b * noise
    found = paired_ratio(a, b, Bootstrap(4000, seed=0))
    assert found.ratio == pytest.approx(0.62 * math.exp(np.log(noise).mean()))
    lo, hi = found.interval
    assert lo < 0.62 < hi and hi - lo < 0.03 and found.p_value < 0.001
    same = paired_ratio(b * rng.lognormal(0, 0.05, 200), b, Bootstrap(4000, seed=0))
    assert same.interval[0] < 1.0 < same.interval[1] and same.p_value > 0.05
