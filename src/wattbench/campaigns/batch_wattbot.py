"""`wattbench batch --workload wattbot`: each (model, reasoning state) row of a models CSV answers the WattBot
questions with retrieval, in that state, as a normal WattBot run.

A row becomes a run config: the batch's engine (`backend`, `endpoint`, its `generation` settings and energy
settings), the row's model and its reasoning state (`generation.reasoning`, resolved by the family table as the
text-generation rows are), the questions (`questions`, default the train set), and the run dir
`individual_runs/<model>_<state>/`, a run dir like any other, so `matrix`, `ensemble`, `audit`, `plot`, `report`
and `compare` read it. The runs go through the campaign executor (`wattbench run` in its own process, inline,
local or Ray), each with its log in `logs/`; a complete run is skipped (`--force` reruns it), an unfinished one
resumes. Its master row has, beside the columns every row has, the scores with their 95% intervals, reasoning
tokens, latency and energy per question.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattbench.campaigns.batch_rows import BatchOutcome
from wattbench.campaigns.jobs import Campaign, run_configs, write_config
from wattbench.config import BatchConfig, ExperimentConfig
from wattbench.config.sections import EngineSettings
from wattbench.data.models_csv import ModelSpec
from wattbench.executors.job import Outcome
from wattbench.store.batch_dir import BatchDir
from wattbench.store.rundir import RunDir
from wattbench.store.schema import MasterRow, RunSummary

Notify = Callable[[str], None]
WORKLOADS = ("textgen", "wattbot")


def base_config(config: BatchConfig) -> ExperimentConfig:
    """What every row's run starts from: `run_config` (its task, retrieval, generation), else the defaults."""
    if not config.run_config:
        return ExperimentConfig()
    from wattbench.runs.checks import load_run_config

    return load_run_config(Path(config.run_config))[0]


def row_config(config: BatchConfig, spec: ModelSpec, runs: Path, base: ExperimentConfig) -> ExperimentConfig:
    """The WattBot run of one row: the base run, with the batch's engine and energy settings and the row's model
    and reasoning state."""
    engine = {k: v for k, v in config.generation.model_dump().items() if k in EngineSettings.model_fields}
    state = spec.row.state
    reasoning = state.label if state.readable and state.on is not None else None  # unreadable: the model's default
    generation: dict[str, Any] = {**base.generation.model_dump(), **engine, "reasoning": reasoning}
    if config.endpoint:
        generation["base_url"] = config.endpoint
    model = spec.model_id
    if config.gguf_dir:
        from wattbench.backends.registry import backend_class

        model = backend_class(config.backend).find_model(model, config.gguf_dir)
    settings = {**base.model_dump(), "name": spec.run_key, "provider": config.backend, "model": model,
                "questions": config.questions or base.questions, "output_dir": str(runs), "generation": generation,
                "energy": config.energy.model_dump()}  # fmt: skip
    return ExperimentConfig.model_validate(settings)


def run_wattbot_batch(
    config: BatchConfig, specs: list[ModelSpec], *, force: bool = False, notify: Notify = lambda message: None
) -> BatchOutcome:
    """Every supported row not complete already, as a WattBot run on the batch's executor; its master row."""
    batch = BatchDir(Path(config.output_dir))
    runs = batch.root / "individual_runs"
    outcome = BatchOutcome()
    campaign = Campaign.of(config.executor, batch.root / "logs", config.data_dir, force=force, say=notify)
    todo: list[tuple[Path, ExperimentConfig, ModelSpec]] = []
    base = base_config(config)
    with batch.lock():
        for spec in specs:
            if not spec.supported:
                outcome.unsupported.append(spec)
                notify(f"row {spec.row.line} {spec.model_id}: skipped, {spec.unsupported_reason}")
                continue
            run = row_config(config, spec, runs, base)
            summary = RunDir(runs / spec.run_key).read_summary()
            if summary is not None and summary.complete and not force:
                outcome.skipped.append(spec)
                notify(f"{spec.model_id} ({spec.state_label}): already completed; --force to run it again")
                batch.upsert_master(master_row(spec, config, summary, None))
                continue
            todo.append((write_config(run, batch.root / "configs"), run, spec))
        results: dict[str, Outcome] = {}

        def finished(result: Outcome) -> None:
            results[result.name or ""] = result
            notify(result.line())

        run_configs([(path, run) for path, run, _ in todo], campaign, finished)
        for _, run, spec in todo:
            summary = RunDir(runs / spec.run_key).read_summary()
            row = master_row(spec, config, summary, results.get(run.name))
            batch.upsert_master(row)
            outcome.rows.append(row)
            outcome.interrupted |= row.status == "interrupted"
    return outcome


def _ci(scores: dict[str, Any], figure: str) -> tuple[float | None, float | None]:
    interval = (scores.get("ci95") or {}).get(figure)
    return (float(interval[0]), float(interval[1])) if interval else (None, None)


def _mean(values: list[float | None]) -> float | None:
    """The mean when every value is known; a sum over the known ones would be too small."""
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known and len(known) == len(values) else None


def master_row(spec: ModelSpec, config: BatchConfig, summary: RunSummary | None, result: Outcome | None) -> MasterRow:
    """The row's master_results.csv row from its run's summary (a failed row when it left none)."""
    mode = spec.mode
    assert mode is not None
    base: dict[str, Any] = {
        "model_name": spec.model_id, "model_class": spec.row.model_class, "task": spec.row.task,
        "reasoning_state": spec.state_label, "backend": config.backend, "family": mode.family,
        "reasoning_control": mode.reasoning_control, "reasoning": mode.reasoning, "effort": mode.effort,
        "workload": "wattbot",
    }  # fmt: skip
    if summary is None:
        why = f"{result.status}: {result.reason}" if result is not None else "never ran"
        return MasterRow(**base, status="failed", error_message=why, successful_prompts=0)
    data = summary.dump()
    scores = (data.get("scores") or {}).get("kaggle") or {}
    energy = data.get("energy") or {}
    questions = energy.get("questions") or {}
    records = RunDir(Path(config.output_dir) / "individual_runs" / spec.run_key).read_results()
    answered = [r for r in records.values() if not r.get("error")]
    reasoning: list[float | None] = [r.get("reasoning_tokens") for r in answered]
    latencies = [r["latency_s"] for r in answered if r.get("latency_s") is not None]
    status = {"complete": "completed", "incomplete": "interrupted"}.get(str(data.get("status")), "failed")
    if result is not None and result.status == "interrupted":
        status = "interrupted"
    lo, hi = {}, {}
    for figure in ("overall", "value_accuracy", "ref_overlap", "na_recall"):
        lo[figure], hi[figure] = _ci(scores, figure)
    per_question_wh = questions.get("wh_per_query")
    return MasterRow(
        **base,
        status=status,
        error_message=data.get("stop_reason") or (None if status == "completed" else data.get("status")),
        total_prompts=data.get("num_questions"), successful_prompts=data.get("num_answered"),
        failed_prompts=data.get("num_failed"),
        total_prompt_tokens=data.get("input_tokens"), total_completion_tokens=data.get("output_tokens"),
        avg_latency_seconds=sum(latencies) / len(latencies) if latencies else None,
        gpu_energy_wh=(energy.get("by_kind_wh") or {}).get("gpu"),
        cpu_energy_wh=(energy.get("by_kind_wh") or {}).get("cpu"),
        avg_energy_per_prompt_wh=per_question_wh,
        wh_per_1000_queries=None if per_question_wh is None else 1000 * per_question_wh,
        overall_score=scores.get("overall"), overall_score_ci95_low=lo["overall"],
        overall_score_ci95_high=hi["overall"],
        value_accuracy=scores.get("value_accuracy"), value_accuracy_ci95_low=lo["value_accuracy"],
        value_accuracy_ci95_high=hi["value_accuracy"],
        ref_overlap=scores.get("ref_overlap"), ref_overlap_ci95_low=lo["ref_overlap"],
        ref_overlap_ci95_high=hi["ref_overlap"],
        na_recall=scores.get("na_recall"), na_recall_ci95_low=lo["na_recall"], na_recall_ci95_high=hi["na_recall"],
        reasoning_tokens_per_question=_mean(reasoning),
        energy_scope=energy.get("scope"),
        thinking_truncated=data.get("num_thinking_truncated"),
        run_dir=str(Path(config.output_dir) / "individual_runs" / spec.run_key),
    )  # fmt: skip
