"""The store's reference (docs/reference/store.md): every file's fields, made from the models' own docstrings
(config/reference.model_markdown), so the page cannot disagree with what is written."""

from __future__ import annotations

from pydantic import BaseModel


def store_markdown() -> str:
    from wattbench.config.reference import model_markdown
    from wattbench.store.energy_sections import MeterWindow, QueryFigures
    from wattbench.store.schema import BatchRunSummary, LoadResults, MasterRow, PromptRecord, QuestionRecord, RunSummary

    parts: list[tuple[str, type[BaseModel]]] = [
        ("A WattBot run: `summary.json`", RunSummary),
        ("A WattBot run: a line of `results.jsonl`", QuestionRecord),
        ("A batch: a row of `master_results.csv`", MasterRow),
        ("A batch row: `individual_runs/<run>/summary.json`", BatchRunSummary),
        ("A batch row: a line of `prompts.jsonl`", PromptRecord),
        ("A load sweep: `load.json`", LoadResults),
        ("A meter window (`energy` of a question, a phase, a batch row)", MeterWindow),
        ("Per-query energy figures (`energy.questions`)", QueryFigures),
    ]
    return "\n".join(f"## {heading}\n\n{model_markdown(model)}" for heading, model in parts)
