"""A run's scores kept as it goes (scoring/tally.py) agree with scoring its submission.csv as the official code
reads it, and the derived files are rebuilt on a schedule that keeps their share of the run's time bounded."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from fakes.fake_pynvml import Clock
from wattbench.data.wattbot import QUESTION_COLUMNS, load_questions
from wattbench.runs.checkpoint import Checkpoints
from wattbench.scoring.tally import ScoreTally, official_cell
from wattbench.scoring.wattbot import MODES, score_files

ODD_VALUES = ["", "NA", "nan", "None", "is_blank", "2.0", "1e3", "[1, 2]", "[0.5,0.6]", "TRUE", "about 5", "007",
              " 12 ", "1,000", "N/A", "-1"]  # fmt: skip


def _submissions(questions: list, seed: int) -> list[dict[str, str]]:
    """A mix a model could give: the right answer, the right answer written another way, odd cells, wrong refs."""
    rng = random.Random(seed)
    rows = []
    for q in questions:
        pick = rng.random()
        if pick < 0.4:
            value, ref = q.answer_value, q.ref_id
        elif pick < 0.6:
            value, ref = rng.choice(ODD_VALUES), rng.choice(["is_blank", "['wu2021a']", "", "NA", q.ref_id])
        else:
            value, ref = str(rng.uniform(0, 1000)), q.ref_id
        unit = rng.choice([q.answer_unit, "", "NA", "kWh"])
        rows.append({"id": q.id, "question": q.question, "answer": value, "answer_value": value,
                     "answer_unit": unit, "ref_id": ref, "ref_url": "", "supporting_materials": "",
                     "explanation": "is_blank"})  # fmt: skip
    return rows


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_tally_scores_as_the_official_reader_of_the_written_file(wattbot: Path, tmp_path: Path, seed: int):
    questions_path = wattbot / "train_QA.csv"
    questions = load_questions(questions_path)
    asked = random.Random(seed).sample(questions, 30)  # a run over some questions, answered in another order
    tally = ScoreTally.for_questions(questions_path, [q.id for q in questions])
    rows = _submissions(asked, seed)
    for row in rows:
        tally.add(row["id"], row)
    submission = tmp_path / "submission.csv"
    with open(submission, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(QUESTION_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    reports = tally.reports()
    assert reports is not None
    for mode in MODES:
        from_file = score_files(questions_path, submission, mode, only_submitted=True)
        kept = reports[mode]
        assert kept.n_scored == from_file.n_scored == 30
        for key in ("overall", "value_accuracy", "ref_overlap", "na_term", "na_recall", "unit_accuracy"):
            assert getattr(kept, key) == getattr(from_file, key), (mode, key)
        assert kept.by_evidence == from_file.by_evidence


def test_a_later_answer_to_the_same_question_replaces_the_earlier(wattbot: Path):
    questions_path = wattbot / "train_QA.csv"
    q = next(q for q in load_questions(questions_path) if q.answer_value.strip() not in ("", "is_blank"))
    tally = ScoreTally.for_questions(questions_path, [q.id])
    tally.add(q.id, {"answer_value": "nonsense", "answer_unit": "", "ref_id": "is_blank"})
    reports = tally.reports()
    assert reports is not None and reports["lenient"].value_accuracy == 0.0
    tally.add(q.id, {"answer_value": q.answer_value, "answer_unit": q.answer_unit, "ref_id": q.ref_id})
    reports = tally.reports()
    assert reports is not None and reports["lenient"].value_accuracy == 1.0 and reports["lenient"].n_scored == 1


@pytest.mark.parametrize(
    "text",
    [
        "id,question,answer_value,answer_unit,ref_id\nq1,What?,,,\n",  # no answers
        "id,question\nq1,What?\n",
    ],
)  # no answer columns: a test set
def test_a_test_file_has_no_scores(tmp_path: Path, text: str):
    path = tmp_path / "test.csv"
    path.write_text(text)
    tally = ScoreTally.for_questions(path, ["q1"])
    tally.add("q1", {"answer_value": "3", "answer_unit": "", "ref_id": ""})
    assert tally.reports() is None


def test_official_cells_are_the_pandas_missing_texts():
    assert official_cell("") == official_cell("NA") == official_cell("null") == "nan"
    assert official_cell("is_blank") == "is_blank" and official_cell(" NA") == " NA"


def test_checkpoints_keep_the_rebuilds_under_their_share_of_the_time():
    clock = Clock(start=0.0)
    checkpoints = Checkpoints(min_interval_s=1.0, max_share=0.05, clock=clock)
    written = []

    def write(cost_s: float):
        def run() -> None:
            clock.now += cost_s
            written.append(clock.now)

        return run

    assert checkpoints.maybe(write(0.01)) is None and written  # the first record: at once
    clock.now += 0.5
    checkpoints.maybe(write(0.01))
    assert len(written) == 1  # under the minimum interval
    clock.now += 0.6
    checkpoints.maybe(write(0.2))  # due (1.1 s): it costs 0.2 s, so the next waits 4 s
    assert len(written) == 2
    clock.now += 3.0
    checkpoints.maybe(write(0.2))
    assert len(written) == 2
    clock.now += 1.1
    checkpoints.maybe(write(0.2))
    assert len(written) == 3
    checkpoints.take(write(0.2))  # the end of the run: always
    assert len(written) == 4 and checkpoints.taken == 4
