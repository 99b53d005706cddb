from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wattbench.errors import DataError
from wattbench.scoring.wattbot import score_files

SOLUTION = [
    {"id": "q1", "answer_value": "4", "answer_unit": "kWh", "ref_id": "['a']"},
    {"id": "q2", "answer_value": "[80,90]", "answer_unit": "percent", "ref_id": "['a','b']"},
    {"id": "q3", "answer_value": "is_blank", "answer_unit": "is_blank", "ref_id": "is_blank"},
    {"id": "q4", "answer_value": "GPT-3", "answer_unit": "is_blank", "ref_id": "['c']"},
    {"id": "q5", "answer_value": "13900", "answer_unit": "liters", "ref_id": "['d']"},
]
SUBMISSION = [
    {"id": "q1", "answer_value": "4.004", "answer_unit": "kWh", "ref_id": "['a']", "explanation": "x"},
    {"id": "q2", "answer_value": "85", "answer_unit": "percent", "ref_id": "['a']", "explanation": "x"},
    {"id": "q3", "answer_value": "", "answer_unit": "is_blank", "ref_id": "is_blank", "explanation": "x"},
    {"id": "q4", "answer_value": "gpt-3", "answer_unit": "is_blank", "ref_id": "['c','e']", "explanation": "x"},
    {"id": "q5", "answer_value": "13,900", "answer_unit": "liters", "ref_id": "['d']", "explanation": "x"},
]


def test_kaggle_mode_compares_as_written(write_csv):
    report = score_files(write_csv(SOLUTION), write_csv(SUBMISSION), "kaggle")
    # value: q5's "13,900" fails; ref: (1 + .5 + 1 + .5 + 1)/5; NA: q3's empty cell is the text "nan", not blank.
    assert (report.value_accuracy, report.ref_overlap, report.na_term) == (0.8, 0.8, 0.8)
    assert report.overall == 0.75 * 0.8 + 0.15 * 0.8 + 0.10 * 0.8
    assert report.na_recall == 0.0 and report.answered_unanswerable == 1
    assert (report.n_scored, report.n_missing, report.n_extra) == (5, 0, 0)


def test_lenient_mode_normalises_and_uses_na_recall(write_csv):
    report = score_files(write_csv(SOLUTION), write_csv(SUBMISSION), "lenient")
    assert (report.value_accuracy, report.ref_overlap, report.na_term, report.na_recall) == (1.0, 0.8, 1.0, 1.0)
    assert report.overall == 0.75 * 1.0 + 0.15 * 0.8 + 0.10 * 1.0
    assert report.answered_unanswerable == 0


@pytest.mark.parametrize("written", ["80-90%", "80% to 90%", "80%-90%", "80 to 90 %"])
def test_lenient_mode_reads_a_percent_range_with_a_sign_at_either_end(write_csv, written):
    rows = [dict(r) for r in SUBMISSION]
    rows[1]["answer_value"] = written  # the solution's [80,90]
    assert score_files(write_csv(SOLUTION), write_csv(rows), "lenient").value_accuracy == 1.0
    assert score_files(write_csv(SOLUTION), write_csv(rows), "kaggle").value_accuracy == 0.6  # as written: no match


@pytest.mark.parametrize("literal", ["NA", "N/A", "None", "null", "nan"])
def test_kaggle_reads_pandas_missing_values_as_text_nan(write_csv, literal):
    rows = [dict(r) for r in SUBMISSION]
    rows[2]["answer_value"] = literal
    kaggle = score_files(write_csv(SOLUTION), write_csv(rows), "kaggle")
    assert kaggle.na_recall == 0.0  # "nan" is not blank
    lenient = score_files(write_csv(SOLUTION), write_csv(rows), "lenient")
    assert lenient.na_recall == (1.0 if literal in ("NA", "N/A") else 0.0)  # as written: only na / n/a are blank


def test_abstentions_are_counted(write_csv):
    rows = [dict(r) for r in SUBMISSION]
    rows[0]["answer_value"] = "is_blank"
    rows[2]["answer_value"] = "Unable to answer with confidence based on the provided documents."
    for mode in ("kaggle", "lenient"):
        report = score_files(write_csv(SOLUTION), write_csv(rows), mode)
        assert report.false_abstentions == 1 and report.na_recall == 1.0
        assert report.worst[0]["id"] == "q1" and "abstained" in report.worst[0]["reasons"]


def test_missing_and_extra_rows(write_csv):
    rows = [r for r in SUBMISSION if r["id"] != "q5"] + [dict(SUBMISSION[0], id="q9")]
    kaggle = score_files(write_csv(SOLUTION), write_csv(rows), "kaggle")
    assert (kaggle.n_scored, kaggle.n_missing, kaggle.n_extra) == (4, 1, 1)
    assert kaggle.value_accuracy == 1.0  # only the inner join is scored, as the official metric does
    lenient = score_files(write_csv(SOLUTION), write_csv(rows), "lenient")
    assert (lenient.n_scored, lenient.n_missing, lenient.extra_ids) == (5, 1, ["q9"])
    assert lenient.value_accuracy == 0.8  # the missing row is wrong
    assert lenient.worst[0] == {
        "id": "q5",
        "expected": "13900",
        "got": "",
        "expected_ref": "['d']",
        "got_ref": "",
        "score": 0.0,
        "reasons": ["missing from submission"],
    }


def test_identical_files_score_one_in_both_modes(wattbot: Path, tmp_path: Path):
    copy = tmp_path / "submission.csv"
    shutil.copy(wattbot / "train_QA.csv", copy)
    for mode in ("kaggle", "lenient"):
        report = score_files(wattbot / "train_QA.csv", copy, mode)
        assert report.overall == 1.0 and report.n_scored == 41
        assert report.worst == [] and report.by_evidence == {}  # train has no evidence flag columns


def test_bom_and_cp1252_files(write_csv):
    solution = write_csv(
        [{"id": "q1", "answer_value": "Mélange", "answer_unit": "", "ref_id": "['griggs2024']"}], encoding="utf-8-sig"
    )
    submission = write_csv(
        [{"id": "q1", "answer_value": "MÉLANGE", "answer_unit": "", "ref_id": "['griggs2024']", "explanation": "é"}],
        encoding="cp1252",
    )
    for mode in ("kaggle", "lenient"):
        assert score_files(solution, submission, mode).overall == 1.0


def test_by_evidence_when_solution_has_flags(write_csv):
    flagged = [
        dict(r, Quote="1" if i < 3 else "0", Table="0" if i < 3 else "1", Math="", is_NA="")
        for i, r in enumerate(SOLUTION)
    ]
    report = score_files(write_csv(flagged), write_csv(SUBMISSION), "kaggle")
    assert report.by_evidence == {
        "Quote": {"n": 3, "correct": 3, "accuracy": 1.0},
        "Table": {"n": 2, "correct": 1, "accuracy": 0.5},
    }


def test_kaggle_rejects_whitespace_explanations_like_the_official_metric(write_csv):
    rows = [dict(r) for r in SUBMISSION]
    rows[1]["explanation"] = "   "
    with pytest.raises(DataError, match=r"row 3: empty explanation"):
        score_files(write_csv(SOLUTION), write_csv(rows), "kaggle")
    assert score_files(write_csv(SOLUTION), write_csv(rows), "lenient").n_scored == 5
    rows[1]["explanation"] = ""  # an empty cell is read as the text "nan" officially, so it passes
    assert score_files(write_csv(SOLUTION), write_csv(rows), "kaggle").n_scored == 5


@pytest.mark.parametrize("mode", ["kaggle", "lenient"])
def test_bad_files_are_one_line_errors(write_csv, tmp_path: Path, mode):
    solution = write_csv(SOLUTION)
    duplicated = write_csv(SUBMISSION + [SUBMISSION[0]])
    with pytest.raises(DataError, match=r"duplicate id 'q1' at rows 2 and 7"):
        score_files(solution, duplicated, mode)
    no_ref = write_csv([{k: v for k, v in r.items() if k != "ref_id"} for r in SUBMISSION])
    with pytest.raises(DataError, match=r"submission file is missing required column 'ref_id'"):
        score_files(solution, no_ref, mode)
    strangers = write_csv([dict(r, id="x" + r["id"]) for r in SUBMISSION])
    with pytest.raises(DataError, match="pass the solution file first"):
        score_files(solution, strangers, mode)
    with pytest.raises(DataError, match="file not found"):
        score_files(solution, tmp_path / "absent.csv", mode)
    with pytest.raises(DataError) as info:
        score_files(solution, duplicated, mode)
    assert "\n" not in str(info.value)


def test_kaggle_type_inference_does_not_change_numeric_matches(write_csv):
    # All-numeric columns with a gap become floats in pandas ("4" -> "4.0"); numbers still compare as numbers.
    solution = write_csv(
        [
            {"id": "q1", "answer_value": "4", "answer_unit": "", "ref_id": "a"},
            {"id": "q2", "answer_value": "7", "answer_unit": "", "ref_id": "a"},
        ]
    )
    submission = write_csv(
        [
            {"id": "q1", "answer_value": "4", "answer_unit": "", "ref_id": "a", "explanation": "e"},
            {"id": "q2", "answer_value": "", "answer_unit": "", "ref_id": "a", "explanation": "e"},
        ]
    )
    report = score_files(solution, submission, "kaggle")
    assert report.value_accuracy == 0.5 and report.rows[0].submitted_value == "4.0"
