"""The results matrix and ensembles, on hand-made submissions and run dirs in the documented schema."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from wattbench.cli import main
from wattbench.data.wattbot import QUESTION_COLUMNS
from wattbench.errors import DataError
from wattbench.report.ensemble import Vote, calibration_weights, decide, ensemble
from wattbench.report.matrix import build_matrix, find_sources

SOLUTION = [
    {"id": "q1", "question": "How many?", "answer_value": "13900", "answer_unit": "kWh", "ref_id": "['a2020']"},
    {"id": "q2", "question": "Which?", "answer_value": "is_blank", "answer_unit": "is_blank", "ref_id": "is_blank"},
    {"id": "q3", "question": "How much?", "answer_value": "7", "answer_unit": "t", "ref_id": "['b2021']"},
]


def _row(qid: str, value: str, ref: str = "['a2020']", explanation: str = "because") -> dict[str, str]:
    return {"id": qid, "question": "", "answer": value, "answer_value": value, "answer_unit": "",
            "ref_id": ref, "ref_url": "", "supporting_materials": "", "explanation": explanation}  # fmt: skip


def _write(path: Path, rows: list[dict[str, str]], columns=QUESTION_COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _vote(run: str, value: str, refs: tuple[str, ...] = ()) -> Vote:
    return Vote(run, value, "", refs, _row("q", value, str(list(refs))))


def test_majority_votes_on_normalised_values_and_unions_the_winners_refs():
    votes = [_vote("r1", "14000", ("x",)), _vote("r2", "13,900", ("a",)), _vote("r3", "13900", ("b", "a"))]
    decision = decide("q", votes, "majority")
    assert decision.winner == "13900" and decision.voters == ["r2", "r3"]
    assert decision.row["ref_id"] == "['a', 'b']"  # the loser's ref x is not in it
    tie = decide("q", [_vote("r1", "1"), _vote("r2", "2")], "majority")
    assert tie.winner == "1"  # a tie goes to the earliest run


def test_blank_votes_and_first_non_blank():
    votes = [_vote("r1", "is_blank"), _vote("r2", ""), _vote("r3", "5", ("c",))]
    assert decide("q", votes, "majority").winner == "is_blank"
    assert decide("q", votes, "majority", ignore_blank=True).winner == "5"
    all_blank = [_vote("r1", "is_blank"), _vote("r2", "is_blank")]
    assert decide("q", all_blank, "majority", ignore_blank=True).winner == "is_blank"
    assert decide("q", [_vote("r1", "n/a"), _vote("r2", "7"), _vote("r3", "8")], "first_non_blank").winner == "7"
    with pytest.raises(DataError, match="unknown 'best'"):
        decide("q", votes, "best")


def test_confidence_weighs_by_calibration_without_the_question_itself():
    extra = [
        {"id": f"q{i}", "question": "", "answer_value": str(i), "answer_unit": "", "ref_id": "['c2022']"}
        for i in range(4, 8)
    ]
    solution = {r["id"]: r for r in SOLUTION + extra}
    good = {"q1": _row("q1", "13900"), "q2": _row("q2", "is_blank", "is_blank"), "q3": _row("q3", "8")}
    good |= {f"q{i}": _row(f"q{i}", str(i), "['c2022']") for i in range(4, 8)}
    bad = {"q1": _row("q1", "1"), "q2": _row("q2", "3"), "q3": _row("q3", "7", "['b2021']")}
    bad |= {f"q{i}": _row(f"q{i}", "99") for i in range(4, 8)}
    runs = {"good": good, "bad1": dict(bad), "bad2": dict(bad)}
    weight = calibration_weights(runs, solution)
    # good scores 1.0 everywhere but q3 (0.1: wrong value and ref; the NA term holds).
    assert weight("good", "q3") == pytest.approx(1.0)  # its miss on q3 is not held against its q3 vote
    assert weight("good", "q1") == pytest.approx((1.0 + 0.1 + 4 * 1.0) / 6)
    # bad: the metric counts any value right on an unanswerable question (q2: 0.75), q3 right, q4-q7 wrong.
    assert weight("bad1", "q1") == pytest.approx((0.75 + 1.0 + 4 * 0.1) / 6)
    majority = {d.id: d.winner for d in ensemble(runs, "majority")}
    confident = {d.id: d.winner for d in ensemble(runs, "confidence", calibration=solution)}
    assert majority["q1"] == "1" and confident["q1"] == "13900"  # one good run outweighs two bad ones
    assert majority["q3"] == "7" and confident["q3"] == "8"
    with pytest.raises(DataError, match="at least two runs"):
        ensemble({"good": good}, "majority")
    with pytest.raises(DataError, match="answered none of the calibration"):
        ensemble({"good": good, "x": {"z9": _row("z9", "1")}}, "confidence", calibration=solution)


def test_matrix_columns_scores_and_gaps(tmp_path: Path, capsys):
    solution = _write(tmp_path / "solution.csv", SOLUTION, ("id", "question", "answer_value", "answer_unit", "ref_id"))
    _write(tmp_path / "subs" / "alpha.csv", [_row("q1", "13900"), _row("q2", "is_blank", "is_blank")])
    _write(tmp_path / "subs" / "beta.csv", [_row("q1", "14000", "['zz']"), _row("q3", "7", "['b2021']")])
    _write(tmp_path / "subs" / "empty_expl.csv", [_row("q1", "1", explanation=" ")])
    sources = find_sources([str(tmp_path / "subs" / "*.csv")], tmp_path)
    columns, rows, warnings = build_matrix(solution, sources, "kaggle")
    assert columns[:5] == ["id", "question", "gt_value", "gt_unit", "gt_ref"]
    assert columns[5:10] == ["alpha_Value", "alpha_Ref", "alpha_ValCorrect", "alpha_RefScore", "alpha_NACorrect"]
    assert len(columns) == 15 and "empty_expl" in warnings[0]  # kaggle rejects it: left out, warned
    q1, q2, q3 = rows
    assert (q1["alpha_ValCorrect"], q1["alpha_RefScore"], q1["beta_ValCorrect"], q1["beta_RefScore"]) == (
        "1",
        "1",
        "0",
        "0",
    )
    assert q2["alpha_NACorrect"] == "1" and "beta_Value" not in q2  # beta did not answer q2: empty cells
    assert q3["beta_ValCorrect"] == "1"
    out = tmp_path / "matrix.csv"
    assert main(["matrix", "--submissions", str(tmp_path / "subs" / "alpha.csv"), str(tmp_path / "subs" / "beta.csv"),
                 "--solution", str(solution), "--output", str(out)]) == 0  # fmt: skip
    with open(out, encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == columns
    printed = capsys.readouterr().out
    assert "3 questions x 2 runs" in printed
    # alpha and beta answered different questions: each is ranked in its own set, against nobody.
    assert "2 questions, set 1:\n  alpha" in printed and "2 questions, set 2:\n  beta" in printed


def test_ensemble_writes_a_scored_run_dir_the_matrix_can_read(tmp_path: Path, capsys):
    solution = _write(tmp_path / "solution.csv", SOLUTION, ("id", "question", "answer_value", "answer_unit", "ref_id"))
    experiments = tmp_path / "experiments"
    _write(experiments / "r1" / "submission.csv", [_row("q1", "13,900"), _row("q3", "6", "['b2021']")])
    _write(experiments / "r2" / "submission.csv", [_row("q1", "13900", "['c']"), _row("q3", "7", "['b2021']")])
    _write(experiments / "r3" / "submission.csv", [_row("q1", "99"), _row("q3", "7", "['b2021']")])
    code = main(["ensemble", "--experiments", "r1", "r2", "r3", "--name", "vote", "--solution", str(solution),
                 "--experiments-dir", str(experiments)])  # fmt: skip
    assert code == 0 and "2 questions, 1 unanimous" not in capsys.readouterr().out
    summary = json.loads((experiments / "vote" / "summary.json").read_text())
    assert summary["kind"] == "ensemble" and summary["members"] == ["r1", "r2", "r3"]
    assert summary["scores"]["lenient"]["value_accuracy"] > 0
    with open(experiments / "vote" / "submission.csv", encoding="utf-8") as handle:
        rows = {r["id"]: r for r in csv.DictReader(handle)}
    assert rows["q1"]["answer_value"] == "13,900" and rows["q1"]["ref_id"] == "['a2020', 'c']"
    assert rows["q3"]["answer_value"] == "7"
    records = [json.loads(line) for line in (experiments / "vote" / "results.jsonl").read_text().splitlines()]
    assert records[0]["voters"] == ["r1", "r2"]
    assert main(["ensemble", "--experiments", "r1", "r2", "--name", "vote", "--solution", str(solution),
                 "--experiments-dir", str(experiments)]) == 2  # fmt: skip
    assert "already exists" in capsys.readouterr().err
    sources = find_sources(None, experiments)
    assert [s.name for s in sources] == ["r1", "r2", "r3", "vote"]


def test_an_ensemble_dir_has_every_file_and_summary_key_of_a_run_dir(tmp_path: Path, wattbot: Path, capsys):
    import pandas as pd

    from fakes.store import write_run
    from wattbench.config import ExperimentConfig
    from wattbench.runs.outputs import build_summary

    solution = wattbot / "train_QA.csv"
    runs = tmp_path / "runs"
    write_run(runs, "a", solution, correct=20, latency_s=1.0, tokens=(500, 40))
    write_run(runs, "b", solution, correct=25, latency_s=2.0, tokens=(300, 20))
    args = ["ensemble", "--experiments", "a", "b", "--name", "ab", "--experiments-dir", str(runs)]
    assert main([*args, "--solution", str(solution)]) == 0
    capsys.readouterr()
    ens = runs / "ab"
    assert {"summary.json", "results.jsonl", "results.json", "submission.csv", "run.log"} <= {
        p.name for p in ens.iterdir()
    }
    summary = json.loads((ens / "summary.json").read_text())
    run_keys = set(build_summary(ExperimentConfig(), [], [], [], None, {}, {}))
    assert run_keys <= set(summary), run_keys - set(summary)
    assert summary["model_id"] == "a+b" and summary["llm_provider"] == "ensemble"
    # What the ensemble cost is what its members cost: per question and in total.
    assert summary["input_tokens"] == 41 * 800 and summary["output_tokens"] == 41 * 60
    assert summary["timing"]["latency_s"]["mean"] == pytest.approx(3.0)
    assert summary["total_time_seconds"] == pytest.approx((41 * 1.0 + 5) + (41 * 2.0 + 5))
    assert summary["overall_score"] is not None
    # Compared, paired, with its best member (b, 25 right): the difference is the two scores' difference.
    versus = summary["vs_best_member"]
    b_overall = json.loads((runs / "b" / "summary.json").read_text())["scores"]["kaggle"]["overall"]
    assert versus["member"] == "b" and versus["n"] == 41
    assert versus["diff"] == pytest.approx(summary["scores"]["kaggle"]["overall"] - b_overall)
    assert versus["ci95"][0] <= versus["diff"] <= versus["ci95"][1]
    assert versus["verdict"] in ("ensemble better", "b better", "no detectable difference")
    assert (versus["verdict"] == "no detectable difference") == (versus["p_value"] >= 0.05)
    # The migration guide's post-processing snippet works on it as on a run.
    frame = pd.DataFrame(json.loads((ens / "results.json").read_text()))
    picked = frame[["id", "pred_value", "gt_value", "value_correct", "latency_seconds"]]
    assert len(picked) == 41 and picked["latency_seconds"].iloc[0] == pytest.approx(3.0)
    assert "ensemble ab (majority) of a" in (ens / "run.log").read_text()
