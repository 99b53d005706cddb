"""Numbered migrations: run dirs and batch results of every earlier schema version read through today's models.

Fixtures: `release_63bb3b0/` (before the store had versions), `release_dfc6532/` (version 1 of every kind) and
`current/` (what this release writes). Each is read the way every reader reads it, and what moved is checked
where it moved to, with its value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from wattbench.config import BatchConfig
from wattbench.errors import DataError
from wattbench.report.batch_labels import read_summary
from wattbench.report.runs import load_runs
from wattbench.store.batch_dir import BatchDir
from wattbench.store.migrations import MIGRATIONS
from wattbench.store.rundir import RunDir
from wattbench.store.schema import BatchRunSummary, LoadResults, MasterRow, PromptRecord, QuestionRecord, RunSummary

FIXTURES = Path(__file__).parent / "fixtures"
RELEASES = ["release_63bb3b0", "release_dfc6532", "current"]
RUNS = {"release_63bb3b0": "smollm2-llamacpp", "release_dfc6532": "smollm2-llamacpp", "current": "smollm2-llamacpp"}


@pytest.mark.parametrize("release", RELEASES)
def test_every_release_s_run_dir_reads_as_today_s_summary(release: str):
    run = RunDir(FIXTURES / release / "experiments" / RUNS[release])
    raw = json.loads(run.summary_json.read_text())
    summary = run.read_summary()
    assert summary.schema_version == RunSummary.VERSION
    # The token totals once, with the value the file held (in `tokens` before version 2).
    tokens = raw.get("tokens") or {}
    assert summary.input_tokens == raw.get("input_tokens", tokens.get("input")) and summary.input_tokens
    assert "tokens" not in summary.dump()
    # wattbench's own figures in `resources`: null with the reason on this CPU run; the seed's keys hold its 0.
    assert summary.resources.gpu_energy_wh is None and summary.resources.unavailable["gpu_energy_wh"]
    assert summary.hardware.gpu_energy_wh == 0.0 and summary.hardware.gpu_avg_power_watts == 0.0
    assert summary.resources.model_disk_size_gb == pytest.approx(summary.hardware.model_disk_size_gb)
    assert summary.backend.takes_slot is True and summary.cost.usd == 0.0
    # Read again after a write, nothing changes: a step is never applied twice.
    assert RunSummary.of(summary.dump(), "again").dump() == summary.dump()
    for record in run.read_results().values():
        assert QuestionRecord.of(record, "record").prompt_tokens is not None
    runs, warnings = load_runs(FIXTURES / release / "experiments")
    assert not warnings and runs[0].overall == summary.overall_score and runs[0].deployment == "local"


@pytest.mark.parametrize("release", RELEASES)
def test_every_release_s_batch_results_read_and_their_config_runs_today(release: str, tmp_path: Path):
    batch = BatchDir(tmp_path / "batch_results")
    shutil.copytree(FIXTURES / release / "batch_results", batch.root)
    rows = batch.read_master()
    assert rows and all(isinstance(r, MasterRow) for r in rows)
    for folder in sorted((batch.root / "individual_runs").iterdir()):
        raw = json.loads((folder / "summary.json").read_text())
        summary = read_summary(folder)
        assert summary.schema_version == BatchRunSummary.VERSION and summary.results.run_id
        # The engine settings a version-1 file kept at the top of its config are in `generation` now.
        config = BatchConfig(**summary.config)
        for key, value in raw.get("config", {}).items():
            if key in ("n_ctx", "dtype", "seed", "request_timeout_s"):
                assert getattr(config.generation, key) == value and key not in summary.config
        if (folder / "prompts.jsonl").exists():
            for line in (folder / "prompts.jsonl").read_text().splitlines():
                PromptRecord.of(json.loads(line), "prompt")


def test_migration_steps_are_numbered_without_gaps_and_bad_versions_are_one_line():
    for kind, steps in MIGRATIONS.items():
        assert sorted(steps) == list(range(1, len(steps) + 1)), kind
    assert sorted(MIGRATIONS) == ["batch_summary", "run_summary"]
    assert RunSummary.VERSION == len(MIGRATIONS["run_summary"]) + 1
    assert BatchRunSummary.VERSION == len(MIGRATIONS["batch_summary"]) + 1
    for version in (0, "2", True):
        with pytest.raises(DataError, match=r"^f.json: schema_version .* is not a version number"):
            RunSummary.of({"schema_version": version}, "f.json")
    with pytest.raises(DataError, match="is newer than this wattbench reads"):
        RunSummary.of({"schema_version": RunSummary.VERSION + 1}, "f.json")


def test_a_load_sweep_is_written_and_read_through_its_model(tmp_path: Path):
    from wattbench.report.load_section import find_sweeps
    from wattbench.runs.load import LoadPoint, write_results

    fields = LoadPoint.__dataclass_fields__
    point = LoadPoint(**{name: None for name in fields} | {"batch_size": 4, "requests": 8})
    write_results(tmp_path / "a", [point], {"engine": "openai", "machine": {"gpus": []}})
    stored = LoadResults.read(tmp_path / "a" / "load.json")
    assert stored.schema_version == LoadResults.VERSION and stored.points[0]["batch_size"] == 4
    [sweep] = find_sweeps(tmp_path)
    assert sweep.points[0].requests == 8 and sweep.facts["engine"] == "openai"


@pytest.mark.parametrize("release", RELEASES)
def test_energy_sections_are_typed_and_rewritten_with_the_keys_they_were_read_with(release: str):
    run = RunDir(FIXTURES / release / "experiments" / RUNS[release])
    raw_lines = [json.loads(line) for line in run.results_jsonl.read_text().splitlines() if line.strip()]
    for number, raw in enumerate(raw_lines, 1):
        record = QuestionRecord.of(raw, f"line {number}")
        if raw.get("energy") is None:
            continue
        assert record.energy is not None and record.energy.label == raw["energy"]["label"]
        # A window without a split has no `phases` or `tokens`, and gains none by being read and written.
        assert set(record.dump()["energy"]) == set(raw["energy"])
    raw_summary = json.loads(run.summary_json.read_text())
    summary = run.read_summary()
    raw_questions = raw_summary.get("energy", {}).get("questions", {})  # the oldest release had fewer figures
    assert summary.energy.questions.answered == raw_questions.get("answered")
    assert summary.energy.questions.wh_per_query == raw_questions.get("wh_per_query")
    assert set(summary.dump()["energy"]) == set(raw_summary.get("energy", {}))


def test_a_malformed_energy_window_is_one_line_naming_the_field():
    raw = json.loads(
        (FIXTURES / "current" / "experiments" / RUNS["current"] / "results.jsonl").read_text().splitlines()[0]
    )
    raw["energy"] = {**(raw.get("energy") or {}), "sessions": "several"}
    with pytest.raises(DataError, match=r"results.jsonl line 1: field energy.sessions: "):
        QuestionRecord.of(raw, "results.jsonl line 1")


def test_the_store_reference_describes_every_field_of_every_file():
    from wattbench.store.energy_sections import MeterWindow, QueryFigures
    from wattbench.store.reference import store_markdown

    page = store_markdown()
    for model in (RunSummary, QuestionRecord, MasterRow, BatchRunSummary, PromptRecord, LoadResults, MeterWindow,
                  QueryFigures):  # fmt: skip
        for name in model.model_fields:
            assert f"`{name}`" in page or f"`[{name}]`" in page, f"{model.__name__}.{name} is not in the reference"
    assert "Energy spent on questions that failed" in page and "### `[energy.questions]`" in page
