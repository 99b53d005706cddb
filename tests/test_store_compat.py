"""Run dirs and batch_results/ written by the previous release (commit 63bb3b0, before the store had typed
records) still read, through the same typed models every reader uses. The fixtures are files that release
wrote (question texts left out)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from wattbench.errors import DataError
from wattbench.report.ratings import rate
from wattbench.report.runs import load_runs
from wattbench.store.batch_dir import ALL_COLUMNS, BatchDir
from wattbench.store.rundir import RunDir
from wattbench.store.schema import MasterRow, QuestionRecord, RunSummary

OLD = Path(__file__).parent / "fixtures" / "release_63bb3b0"
KEY = "HuggingFaceTB_SmolLM2-135M-Instruct_Off"


def test_a_run_dir_of_the_previous_release_reads_through_the_typed_models():
    run = RunDir(OLD / "experiments" / "smollm2-llamacpp")
    summary = run.read_summary()
    assert isinstance(summary, RunSummary) and summary.schema_version == RunSummary.VERSION  # upgraded as read
    assert summary.run_status == "complete" and summary.num_questions == 41 and summary.overall_score is not None
    assert summary.config["provider"] == "llamacpp" and summary.backend.takes_slot is True
    # Its resource figures moved to `resources` (null, with the reason), the seed's keys to the seed's 0.
    assert summary.resources.gpu_energy_wh is None and "gpu_energy_wh" in summary.resources.unavailable
    assert summary.hardware.gpu_energy_wh == 0.0
    records = run.read_results()
    assert len(records) == 3 and all(r["schema_version"] == 1 for r in records.values())
    first = QuestionRecord.model_validate(next(iter(records.values())))
    assert first.parse_status == "ok" and first.energy is not None and first.prompt_tokens > 0
    runs, warnings = load_runs(OLD / "experiments")
    assert not warnings and runs[0].overall == summary.overall_score and runs[0].deployment == "local"


def test_batch_results_of_the_previous_release_read_and_take_new_rows(tmp_path):
    batch = BatchDir(tmp_path / "batch_results")
    shutil.copytree(OLD / "batch_results", batch.root)
    [row] = batch.read_master()
    assert row.model_name == "HuggingFaceTB/SmolLM2-135M-Instruct" and row.status == "completed"
    assert row.total_prompts == 2 and row.total_completion_tokens == 16 and row.gpu_energy_wh is None
    assert batch.completed(KEY)
    summary = batch.run_summary(KEY)
    assert summary is not None and summary.results.run_id == row.run_id  # the CSV keeps 9 digits, JSON all
    assert summary.results.total_duration_seconds == pytest.approx(row.total_duration_seconds)
    assert rate([row]).left_out  # no measured energy: left out of the ratings, with the reason
    # A new row lands beside the old one, in the same columns.
    batch.upsert_master(row.model_copy(update={"model_name": "acme/other", "gpu_energy_wh": 0.5}))
    header = (batch.master_csv).read_text(encoding="utf-8").splitlines()[0].split(",")
    assert tuple(header) == ALL_COLUMNS
    assert [r.model_name for r in batch.read_master()] == ["HuggingFaceTB/SmolLM2-135M-Instruct", "acme/other"]


def test_files_that_do_not_fit_the_models_are_refused_with_the_field_named(tmp_path):
    run = tmp_path / "r"
    shutil.copytree(OLD / "experiments" / "smollm2-llamacpp", run)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "num_questions": "many"}))
    with pytest.raises(DataError, match=r"summary.json: field num_questions"):
        RunDir(run).read_summary()
    (run / "summary.json").write_text(json.dumps({**summary, "schema_version": 99}))
    with pytest.raises(DataError, match="schema_version 99 is newer"):
        RunDir(run).read_summary()
    with pytest.raises(DataError, match="row 2: field total_prompts"):
        MasterRow.from_cells({"model_name": "m", "total_prompts": "lots"}, "master_results.csv row 2")
