"""Everything a run dir holds besides results.jsonl, recomputed from the records: submission.csv, the scores,
summary.json (with the keys the seed tools' notebooks read) and results.json."""

from __future__ import annotations

import os
import statistics
from functools import lru_cache
from pathlib import Path
from typing import Any

from wattbench.backends.timing import spread
from wattbench.config import ExperimentConfig
from wattbench.data.wattbot import QUESTION_COLUMNS, Question
from wattbench.energy.base import CONCURRENT_RUNS, Measurement
from wattbench.energy.carbon import J_PER_WH, co2e_g
from wattbench.energy.phases import phase_figures
from wattbench.energy.shares import PerQuery, by_scope, complete_total_j, headline_kind
from wattbench.energy.warning_list import gathered
from wattbench.runs.checkpoint import Checkpoints
from wattbench.runs.costs import cost_usd, price_per_1m
from wattbench.runs.wattbot_repeats import section as repeats_section
from wattbench.scoring.intervals import with_intervals
from wattbench.scoring.tally import ScoreTally
from wattbench.scoring.wattbot import (
    MODES,
    SOLUTION_COLUMNS,
    SUBMISSION_COLUMNS,
    CellTable,
    Mode,
    read_cells,
    score_tables,
)
from wattbench.store.compat import results_json, seed_view
from wattbench.store.records import question_counts
from wattbench.store.rundir import RunDir
from wattbench.store.schema import RunSummary


@lru_cache(maxsize=4)
def _solution_cells(path: str, modified_ns: int, mode: Mode) -> CellTable:
    # A resumed run in the same process (tests, campaigns inline) reads the solution once.
    return read_cells(Path(path), mode, SOLUTION_COLUMNS + ("Quote", "Table", "Figure", "Math", "is_NA"))


def score_run(questions_path: Path, selected: list[Question], submission_path: Path) -> dict[str, Any] | None:
    """Both modes, over the run's questions; None when the questions carry no answers (a test file)."""
    if not any(q.answer_value.strip() for q in selected):
        return None
    ids = {q.id for q in selected}
    out: dict[str, Any] = {}
    for mode in MODES:
        solution = _solution_cells(str(questions_path), questions_path.stat().st_mtime_ns, mode).subset(ids)
        submission = read_cells(submission_path, mode, SUBMISSION_COLUMNS + ("explanation",))
        out[mode] = score_tables(solution, submission, mode)
    return out


def questions_energy(records: list[dict[str, Any]]) -> Measurement | None:
    total = None
    for record in records:
        if record.get("energy"):
            m = Measurement.from_dict(record["energy"])
            total = m if total is None else total + m
    if total is not None:
        total.label = "questions"
    return total


def phase_energy(sessions: list[dict[str, Any]], phase: str) -> Measurement | None:
    total = None
    for session in sessions:
        if session.get("energy", {}).get(phase):
            m = Measurement.from_dict(session["energy"][phase])
            total = m if total is None else total + m
    return total


def _average_power_w(measurement: Measurement | None, kind: str) -> float | None:
    joules = measurement.total_j(kind) if measurement is not None else None
    if measurement is None or joules is None or not measurement.duration_s:
        return None
    return joules / measurement.duration_s


def _wh(measurement: Measurement | None, kind: str) -> float | None:
    joules = measurement.total_j(kind) if measurement is not None else None
    return None if joules is None else joules / J_PER_WH


def build_summary(
    config: ExperimentConfig,
    questions: list[Question],
    records: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
    scores: dict[str, Any] | None,
    backend_info: dict[str, Any],
    hardware: dict[str, Any],
) -> dict[str, Any]:
    latencies = [r["latency_s"] for r in records]
    counts = question_counts(records)
    input_tokens = sum(r.get("prompt_tokens") or 0 for r in records)
    output_tokens = sum(r.get("completion_tokens") or 0 for r in records)
    phases = {
        "index_load": phase_energy(sessions, "index_load"),
        "model_load": phase_energy(sessions, "model_load"),
        "questions": questions_energy(records),
    }
    total = _sum_of([m for m in phases.values() if m is not None])
    kaggle = scores["kaggle"] if scores else None
    cost = _cost(config, input_tokens, output_tokens)
    usage_unknown = sum(1 for r in records if r.get("usage_unknown"))
    if usage_unknown and (cost["price_input_per_1m"] or cost["price_output_per_1m"]):
        # The known tokens' price would understate the cost: it is unknown, and the audit says why.
        cost["usd"] = None
    return {
        "schema_version": RunSummary.VERSION,
        "name": config.name,
        "model_id": backend_info.get("model_id", config.model),
        "llm_provider": config.provider,
        "num_questions": len(questions),
        **counts,
        **_reasoning(config),
        "status": run_status_of(len(questions), counts, sessions),
        "stop_reason": (sessions[-1].get("stopped") if sessions else None),
        "complete": counts["num_answered"] == len(questions),
        "overall_score": kaggle.overall if kaggle else None,
        "value_accuracy": kaggle.value_accuracy if kaggle else None,
        "ref_overlap": kaggle.ref_overlap if kaggle else None,
        "na_accuracy": kaggle.na_recall if kaggle else None,
        "scores": {mode: report.to_dict() for mode, report in (scores or {}).items()},
        "total_time_seconds": sum(s.get("wall_s", 0.0) for s in sessions),
        "avg_latency_seconds": statistics.fmean(latencies) if latencies else None,
        "timing": _timing(records, sessions),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "num_usage_unknown": usage_unknown,
        "estimated_cost_usd": cost["usd"],
        "cost": cost,
        "hardware": {
            **hardware,
            # The questions' GPU energy: index and model loads are in energy.phases, not in this figure.
            "gpu_energy_wh": _wh(phases["questions"], "gpu"),
            "gpu_avg_power_watts": _average_power_w(phases["questions"], "gpu"),
        },
        "energy": _energy(config, phases, total, records, backend_info.get("measured_devices")),
        "backend": backend_info,
        "sessions": sessions,
        "config": config.model_dump(),
    }


def _sum_of(measurements: list[Measurement]) -> Measurement | None:
    total = None
    for m in measurements:
        total = m if total is None else total + m
    return total


def _timing(records: list[dict[str, Any]], sessions: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [r["latency_s"] for r in records]
    return {
        "total_time_s": sum(s.get("wall_s", 0.0) for s in sessions),
        "questions_time_s": sum(latencies),
        "latency_s": {
            "mean": statistics.fmean(latencies) if latencies else None,
            "p50": statistics.median(latencies) if latencies else None,
            "max": max(latencies) if latencies else None,
        },
        "retrieval_s": sum(r["retrieval_s"] for r in records),
        "generation_s": sum(r["generation_s"] for r in records),
        "questions_per_min": 60 * len(records) / sum(latencies) if latencies and sum(latencies) > 0 else None,
        # p50/p90/p99 over the answers whose engine timed its tokens.
        **spread([r["ttft_s"] for r in records if r.get("ttft_s") is not None], "ttft"),
        **spread([r["tpot_s"] for r in records if r.get("tpot_s") is not None], "tpot"),
    }


def _cost(config: ExperimentConfig, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    price_in, price_out = price_per_1m(
        config.provider, config.model, config.price_input_per_1m, config.price_output_per_1m
    )
    usd = cost_usd(input_tokens, output_tokens, price_in, price_out)
    return {"usd": usd, "price_input_per_1m": price_in, "price_output_per_1m": price_out}


def _energy(
    config: ExperimentConfig, phases: dict[str, Measurement | None], total: Measurement | None,
    records: list[dict[str, Any]], devices: dict[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    """One scope at a time: the headline kind (GPU for a GPU engine), each kind's figures beside it, and a total
    only when every kind the run used was measured."""
    headline = headline_kind(devices, total)
    windows = [Measurement.from_dict(r["energy"]) if r.get("energy") else None for r in records]
    figures = by_scope(windows, [not r.get("error") for r in records], [r.get("completion_tokens") for r in records])
    total_j, no_total = complete_total_j(total, devices)
    headline_j = total.total_j(headline) if total is not None and headline else None
    none = PerQuery(None, sum(1 for r in records if not r.get("error")), 0).to_dict()
    warnings, distinct = gathered(
        [(name, m.warnings) for name, m in phases.items() if m is not None]
        + [(str(r.get("id")), (r.get("energy") or {}).get("warnings") or []) for r in records]
    )
    shared: dict[tuple[Any, Any], dict[str, Any]] = {}
    for found in [*(m.shared_gpu for m in phases.values() if m is not None),
                  *((r.get("energy") or {}).get("shared_gpu") or [] for r in records)]:  # fmt: skip
        for process in found:
            shared.setdefault((process.get("scope"), process.get("pid")), process)
    return {
        "warnings": warnings,
        "warnings_count": distinct,
        "shared_gpu": list(shared.values()),
        "scope": headline,
        "phases": {name: (m.to_dict() if m else None) for name, m in phases.items()},
        "total_j": total_j,
        "total_unavailable": no_total,
        "by_kind_wh": {
            kind: (None if j is None else j / J_PER_WH) for kind, j in (total.totals_j() if total else {}).items()
        },
        "unavailable": total.unavailable if total else {},
        **shared_package_note(total),
        "questions": figures[headline].to_dict() if headline in figures else {**none, "scope": headline},
        "questions_by_scope": {kind: f.to_dict() for kind, f in figures.items()},
        # Each answered question's window split at its answer's first token, where it was one request.
        "prefill_decode": phase_figures(
            [
                ((r.get("energy") or {}).get("phases"), r.get("prompt_tokens"), r.get("completion_tokens"))
                for r in records
                if not r.get("error")
            ]
        ),  # fmt: skip
        "co2e_g": co2e_g(None if headline_j is None else headline_j / J_PER_WH, config.energy.grid_intensity_g_per_kwh),
        "co2e_scope": headline,
        "grid_intensity_g_per_kwh": config.energy.grid_intensity_g_per_kwh,
    }


def _reasoning(config: ExperimentConfig) -> dict[str, Any]:
    """The reasoning state asked for and the mode it resolved to (tasks/wattbot_reasoning.py)."""
    from wattbench.tasks.wattbot_reasoning import run_mode

    gen = config.generation
    mode, warnings = run_mode(config.model, gen.reasoning, gen.max_tokens, gen.reasoning_max_tokens)
    return {"reasoning_state": gen.reasoning, "mode": mode.to_dict() if mode else None,
            "reasoning_warnings": warnings}  # fmt: skip


def run_status_of(num_questions: int, counts: dict[str, int], sessions: list[dict[str, Any]]) -> str:
    """complete: every question answered. failed: the last session stopped on failures, or every question
    failed. partial: every question done, some failed (a rerun retries them). incomplete: questions not yet
    asked (interrupted, killed, or still running)."""
    if counts["num_answered"] == num_questions:
        return "complete"
    if (sessions and sessions[-1].get("stopped")) or (counts["num_done"] and not counts["num_answered"]):
        return "failed"
    return "partial" if counts["num_done"] == num_questions else "incomplete"


def run_status(summary: dict[str, Any]) -> str:
    return str(summary.get("status") or ("complete" if summary.get("complete") else "incomplete"))


def shared_package_note(total: Measurement | None) -> dict[str, Any]:
    """Runs side by side on one machine (the local executor) each measure their own GPUs, but RAPL has one
    counter per CPU package: a run's cpu and dram energy then include the other runs'. Say so in the run."""
    concurrent = int(os.environ.get(CONCURRENT_RUNS, "1") or 1)
    if concurrent <= 1:
        return {}
    note: dict[str, Any] = {"concurrent_runs": concurrent}
    scopes = [s for s in (total.energy_j if total else {}) if not s.startswith("gpu")]
    if scopes:
        note["shared_scopes"] = scopes
        note["shared_note"] = f"{', '.join(scopes)} cover the whole CPU package, shared by up to {concurrent} runs"
    return note


def write_outputs(
    run: RunDir,
    config: ExperimentConfig,
    questions: list[Question],
    questions_path: Path,
    records: dict[str, dict[str, Any]],
    sessions: list[dict[str, Any]],
    backend_info: dict[str, Any],
    hardware: dict[str, Any],
    tally: ScoreTally | None = None,
    passes: tuple[dict[int, dict[str, dict[str, Any]]], str | None] | None = None,
) -> dict[str, Any]:
    """Rewrite the derived files from the records. `passes`: the further measured passes and why they stopped,
    for the summary's `repeats` (runs/wattbot_repeats.py). With `tally` (a checkpoint while the run goes) the scores are
    the tally's, kept as each record was stored; without (the run's end) they are read from submission.csv as
    the official metric reads it."""
    ordered = [records[q.id] for q in questions if q.id in records]
    submission = run.write_submission([r["submission"] for r in ordered], QUESTION_COLUMNS)
    if not ordered:
        scores = None
    elif tally is not None:
        scores = tally.reports()
    else:
        scores = score_run(questions_path, [q for q in questions if q.id in records], submission)
    for report in (scores or {}).values():
        with_intervals(report)
    built = seed_view(build_summary(config, questions, ordered, sessions, scores, backend_info, hardware))
    if passes is not None:
        first = {r["id"]: r for r in ordered}
        built["repeats"] = repeats_section(first, passes[0], built["energy"].get("scope"), passes[1])
    summary = RunSummary.of(built, str(run.summary_json)).dump()
    run.write_json("summary.json", summary)
    run.write_json("results.json", results_json(ordered))
    return summary


class Recorder:
    """What a run does with each record it stores: score it once (the tally), and rewrite the derived files on
    the checkpoint schedule (runs/checkpoint.py); `recorder(None)` takes a checkpoint now (a stop)."""

    def __init__(
        self, run: RunDir, config: ExperimentConfig, questions: list[Question], questions_path: Path,
        records: dict[str, dict[str, Any]], sessions: list[dict[str, Any]], backend_info: dict[str, Any],
        hardware: dict[str, Any],
    ) -> None:  # fmt: skip
        self.tally = ScoreTally.for_questions(questions_path, [q.id for q in questions])
        for record in records.values():  # a resumed run's earlier answers
            self.tally.add(record["id"], record["submission"])
        self.checkpoints = Checkpoints()
        self._args = (run, config, questions, questions_path, records, sessions, backend_info, hardware)

    def _write(self) -> dict[str, Any]:
        return write_outputs(*self._args, tally=self.tally)

    def __call__(self, record: dict[str, Any] | None) -> None:
        if record is None:
            self.checkpoints.take(self._write)
            return
        self.tally.add(record["id"], record["submission"])
        self.checkpoints.maybe(self._write)
