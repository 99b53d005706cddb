"""`wattbench compare`: run dirs, run names and submission CSVs compared pair by pair, as a user runs it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fakes.store import read_solution, write_run
from wattbench.cli import main
from wattbench.stats.paired import holm


def _pattern(n: int, p: float, seed: int) -> list[bool]:
    return list(np.random.default_rng(seed).random(n) < p)


def _compare(capsys, *args: str) -> dict:
    assert main(["compare", *args, "--json", "--bootstrap", "2000"]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_dirs_give_score_energy_and_latency_pairs(wattbot: Path, tmp_path: Path, capsys):
    solution = wattbot / "train_QA.csv"
    n = len(read_solution(solution))
    rng = np.random.default_rng(0)
    energy_b = rng.lognormal(5.0, 0.8, n)  # joules per question, spanning an order of magnitude
    latency = rng.lognormal(0.0, 0.5, n)
    write_run(
        tmp_path,
        "small",
        solution,
        correct=0,
        right=_pattern(n, 0.5, 1),
        question_energy_j=list(0.6 * energy_b * rng.lognormal(0, 0.03, n)),
        question_latency_s=list(latency),
    )
    slower = latency * rng.lognormal(0, 0.02, n)
    write_run(tmp_path, "large", solution, correct=0, right=_pattern(n, 0.55, 2),
              question_energy_j=list(energy_b), question_latency_s=list(slower))  # fmt: skip
    out = _compare(capsys, str(tmp_path / "small"), str(tmp_path / "large"))
    (pair,) = out["pairs"]
    for key in ("a", "b", "n", "diff", "ci95", "p_value", "p_adjusted", "mcnemar_p", "verdict"):
        assert key in pair
    assert pair["a"] == "small" and pair["b"] == "large" and pair["n"] == n
    lo, hi = pair["ci95"]
    assert lo < pair["diff"] < hi
    small = {r["name"]: r for r in out["runs"]}["small"]
    assert small["overall"] == pytest.approx(json.loads((tmp_path / "small" / "summary.json").read_text())
                                             ["scores"]["kaggle"]["overall"])  # fmt: skip
    energy = pair["energy"]
    assert energy["scope"] == "gpu" and energy["n"] == n
    assert energy["ratio"] == pytest.approx(0.6, rel=0.02) and energy["ci95"][0] < 0.6 < energy["ci95"][1]
    assert energy["verdict"] == "small lower" and energy["p_adjusted"] < 0.05
    assert pair["latency"]["verdict"] == "no detectable difference"  # same latency up to 2% noise
    text = main(["compare", str(tmp_path / "small"), str(tmp_path / "large"), "--bootstrap", "2000"])
    printed = capsys.readouterr().out
    assert text == 0 and "GPU energy per question: small uses 0.6" in printed and "small - large:" in printed


def test_run_names_csvs_and_missing_ids(wattbot: Path, tmp_path: Path, capsys):
    solution = wattbot / "train_QA.csv"
    write_run(tmp_path / "experiments", "alpha", solution, correct=30)
    write_run(tmp_path / "experiments", "beta", solution, correct=10)
    # A CSV missing five questions: compared on the questions both answered.
    rows = list(csv.DictReader(open(tmp_path / "experiments" / "beta" / "submission.csv", encoding="utf-8")))
    partial = tmp_path / "gamma.csv"
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[5:])
    out = _compare(capsys, "alpha", "beta", str(partial), "--experiments-dir", str(tmp_path / "experiments"),
                   "--solution", str(solution))  # fmt: skip
    pairs = {(p["a"], p["b"]): p for p in out["pairs"]}
    assert set(pairs) == {("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")}
    assert pairs[("alpha", "gamma")]["n"] == len(rows) - 5 and pairs[("alpha", "gamma")]["only_in_a"] == 5
    assert pairs[("alpha", "beta")]["verdict"] == "alpha better"
    # alpha is right on questions 10-29 where beta is not, but for an unanswerable one (its value rule differs).
    truth = read_solution(solution)
    only_alpha = sum(1 for q in truth[10:30] if q["answer_value"] != "is_blank")
    assert pairs[("alpha", "beta")]["a_only_correct"] == only_alpha and pairs[("alpha", "beta")]["b_only_correct"] == 0
    assert pairs[("beta", "gamma")]["diff"] == 0.0 and pairs[("beta", "gamma")]["verdict"] == "no detectable difference"
    # Holm over the three pairs of this one call.
    raw = [p["p_value"] for p in out["pairs"]]
    assert [p["p_adjusted"] for p in out["pairs"]] == pytest.approx(holm(raw))
    assert pairs[("alpha", "beta")]["energy"] is None  # a CSV and fixture runs without per-question energy
    based = _compare(capsys, "alpha", "beta", str(partial), "--experiments-dir", str(tmp_path / "experiments"),
                     "--solution", str(solution), "--baseline", "beta")  # fmt: skip
    assert [(p["a"], p["b"]) for p in based["pairs"]] == [("beta", "alpha"), ("beta", "gamma")]


@pytest.mark.parametrize(
    "case, message",
    [
        ("one", "give at least two runs"),
        ("disjoint", "share 0 scored question(s)"),
        ("unknown", "'nowhere' is not a run dir"),
        ("csv-energy", "gamma has no per-question gpu energy"),
        ("run-energy", "alpha has no per-question gpu energy"),
        ("baseline", "--baseline: 'zeta' is not one of the runs"),
        ("level", "--ci-level"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(wattbot: Path, tmp_path: Path, capsys, case: str, message: str):
    solution = wattbot / "train_QA.csv"
    write_run(tmp_path, "alpha", solution, correct=30)
    write_run(tmp_path, "beta", solution, correct=10, question_energy_j=[1.0] * len(read_solution(solution)))
    lines = (tmp_path / "alpha" / "submission.csv").read_text().splitlines(keepends=True)
    gamma, first, last = tmp_path / "gamma.csv", tmp_path / "first.csv", tmp_path / "last.csv"
    gamma.write_text("".join(lines))
    first.write_text("".join(lines[:21]))  # the header and 20 questions
    last.write_text("".join(lines[:1] + lines[21:]))
    runs = {
        "one": [str(tmp_path / "alpha")],
        "disjoint": [str(first), str(last)],
        "unknown": [str(tmp_path / "alpha"), "nowhere"],
        "csv-energy": [str(tmp_path / "beta"), str(gamma), "--energy-scope", "gpu"],
        "run-energy": [str(tmp_path / "alpha"), str(tmp_path / "beta"), "--energy-scope", "gpu"],
        "baseline": [str(tmp_path / "alpha"), str(tmp_path / "beta"), "--baseline", "zeta"],
        "level": [str(tmp_path / "alpha"), str(tmp_path / "beta"), "--ci-level", "95"],
    }[case]
    code = main(["compare", *runs, "--solution", str(solution)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
