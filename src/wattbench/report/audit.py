"""`wattbench audit`: what in each run should not be trusted as it stands.

Each check looks at one run dir (and, for duplicates, at the whole store) and says why in one line. A run with
no flag is listed as clean. The checks only read: the audit never changes a run dir.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wattbench.errors import DataError
from wattbench.report.runs import RunInfo
from wattbench.scoring.wattbot import score_files
from wattbench.store.records import parse_status


@dataclass(frozen=True)
class Thresholds:
    max_latency_s: float = 120.0
    """Mean latency per question above this is flagged (a stuck server, a CPU fallback, swapping)."""
    max_error_rate: float = 0.10
    min_score: float = 0.2
    score_tolerance: float = 1e-6
    tokens_tolerance: int = 0


@dataclass(frozen=True)
class Flag:
    code: str
    message: str


@dataclass
class RunAudit:
    name: str
    model: str
    provider: str
    flags: list[Flag] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Checks that could not be made (no solution file, an ensemble has no tokens) — not flags."""

    @property
    def clean(self) -> bool:
        return not self.flags

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "clean": self.clean}


def _flag(audit: RunAudit, code: str, message: str) -> None:
    audit.flags.append(Flag(code, message))


def _check_tokens_latency_cost(run: RunInfo, audit: RunAudit, limits: Thresholds) -> None:
    output_tokens = run.get("output_tokens")
    answered = int(run.summary.get("num_answered") or 0)
    if answered and not output_tokens:
        _flag(audit, "no_tokens", f"{answered} questions answered but 0 output tokens recorded (usage not read?)")
    latency = run.latency_s
    if answered and (latency is None or latency <= 0):
        _flag(audit, "zero_latency", "mean latency is 0 or missing: the timer did not wrap the generation")
    elif latency is not None and latency > limits.max_latency_s:
        _flag(audit, "high_latency", f"mean latency {latency:.1f} s > {limits.max_latency_s:g} s")
    priced = bool(run.get("cost.price_input_per_1m") or run.get("cost.price_output_per_1m"))
    if output_tokens and (priced or run.deployment == "api") and not run.cost_usd:
        why = "priced per token" if priced else "an API model"
        _flag(audit, "zero_cost", f"cost is {run.cost_usd} USD for {output_tokens} output tokens on {why}")


def _check_usage(run: RunInfo, audit: RunAudit) -> None:
    """Token counts the engine reported that could not be true (backends/usage.py): they were recorded as unknown,
    so the run's tokens, cost and tokens/J leave those questions out."""
    bad = [r for r in run.records if r.get("usage_unknown") or r.get("usage_warning")]
    if bad:
        first = next((n for n in bad[0].get("notes") or [] if "impossible usage" in n), bad[0].get("usage_warning"))
        _flag(audit, "usage_unknown", f"{len(bad)} answers with impossible token counts from the engine, recorded "
                                      f"as unknown (cost left unknown); first: {first}")  # fmt: skip


def _check_errors_score(run: RunInfo, audit: RunAudit, limits: Thresholds) -> None:
    total = run.num_questions
    errors = int(run.summary.get("num_errors") or sum(1 for r in run.records if r.get("error")))
    if total and errors / total > limits.max_error_rate:
        rate = errors / total
        _flag(audit, "error_rate", f"{errors}/{total} questions failed ({rate:.0%} > {limits.max_error_rate:.0%})")
    if run.overall is not None and run.overall < limits.min_score:
        _flag(audit, "low_score", f"overall score {run.overall:.3f} < {limits.min_score:g}")
    statuses = [parse_status(r) for r in run.records]
    if statuses.count("unparseable"):
        _flag(
            audit,
            "unparseable",
            f"{statuses.count('unparseable')}/{len(run.records)} answers held no answer to parse and score as "
            "blank (raw_output in results.jsonl)",
        )
    if statuses.count("thinking_truncated"):
        _flag(audit, "thinking_truncated", f"{statuses.count('thinking_truncated')}/{len(run.records)} answers ran out "
              "of budget while still thinking (raise generation.reasoning_max_tokens)")  # fmt: skip
    if statuses.count("recovered"):
        audit.notes.append(
            f"{statuses.count('recovered')} answers were incomplete JSON (cut at the token cap?); value and refs "
            "were read from them"
        )
    status = run.summary.get("status")
    if status == "failed":
        why = run.summary.get("stop_reason") or "no question got an answer"
        _flag(audit, "failed", f"the run failed: {why}")
    elif run.summary.get("complete") is False or status in ("incomplete", "partial"):
        done = sum(1 for r in run.records if not r.get("error"))
        _flag(audit, "incomplete", f"{done} of {total} questions answered; resume it with 'wattbench run'")


def _check_recomputed(run: RunInfo, audit: RunAudit, solution: Path | None, limits: Thresholds) -> None:
    stored = run.overall
    submission = run.path / "submission.csv"
    if stored is None:
        return
    questions = run.get("config.questions")
    path = Path(questions) if questions else solution
    if path is None or not path.exists() or not submission.exists():
        missing = "no submission.csv" if not submission.exists() else f"solution file {path} not found"
        audit.notes.append(f"stored score not rechecked: {missing}")
        return
    try:
        recomputed = score_files(path, submission, "kaggle", only_submitted=True).overall
    except DataError as exc:
        _flag(audit, "score_mismatch", f"stored score {stored:.4f} cannot be recomputed: {exc}")
        return
    if abs(recomputed - stored) > limits.score_tolerance:
        _flag(audit, "score_mismatch", f"stored score {stored:.4f} ≠ recomputed {recomputed:.4f} from submission.csv")


def _warnings(run: RunInfo) -> list[str]:
    found: list[str] = []
    for phase in (run.get("energy.phases") or {}).values():
        found += (phase or {}).get("warnings") or []
    found += run.get("energy.warnings") or []
    for session in run.summary.get("sessions") or []:
        for phase in (session.get("energy") or {}).values():
            found += (phase or {}).get("warnings") or []
    return list(dict.fromkeys(found))


def _check_energy(run: RunInfo, audit: RunAudit) -> None:
    if run.uses_gpu and run.energy_wh is None:
        why = (run.get("energy.unavailable") or {}).get("gpu") or "no reason recorded"
        _flag(audit, "energy_missing", f"a GPU run with no GPU energy: {why}")
    for warning in _warnings(run):
        if "disagree" in warning:
            _flag(audit, "counter_power_disagreement", warning)
        if "energy counter reset" in warning:
            _flag(audit, "counter_reset", warning)
    shared = run.get("energy.shared_gpu") or []
    if shared:
        named = ", ".join(f"pid {p.get('pid')} {p.get('name') or ''} on {p.get('scope')}".replace("  ", " ")
                          for p in shared[:5])  # fmt: skip
        _flag(audit, "shared_gpu", f"{len(shared)} other process(es) used the run's GPUs while it was measured "
                                   f"({named}); its GPU energy includes theirs")  # fmt: skip
    if run.energy_scope not in (None, "gpu") and run.wh_per_question is not None:
        # Energy is compared across runs on one kind of scope only (report.runs.common_energy_scope).
        audit.notes.append(f"energy is on the {run.energy_scope} scope: compare it with {run.energy_scope} runs only")


def _check_totals(run: RunInfo, audit: RunAudit) -> None:
    """A resumed run's summary is rebuilt from results.jsonl; its totals must still add up."""
    if run.kind == "ensemble" or not run.records:
        return
    problems = []
    n = len(run.records)
    # An interrupted run has fewer records than questions: that is "incomplete", not a totals mismatch.
    done = run.summary.get("num_done", run.summary.get("num_questions") if run.summary.get("complete") else None)
    if done is not None and done != n:
        problems.append(f"{done} questions done per summary.json vs {n} records")
    for key, field_name in (("input_tokens", "prompt_tokens"), ("output_tokens", "completion_tokens")):
        stored = run.get(key)
        summed = sum(int(r.get(field_name) or 0) for r in run.records)
        if isinstance(stored, int) and stored != summed:
            problems.append(f"{key} {stored} vs {summed} summed over results.jsonl")
    sessions = run.summary.get("sessions") or []
    total_time = run.get("timing.total_time_s")
    if sessions and isinstance(total_time, int | float):
        walls = sum(float(s.get("wall_s") or 0.0) for s in sessions)
        if abs(walls - total_time) > 1e-6 * max(1.0, walls):
            problems.append(f"total time {total_time:.1f} s vs {walls:.1f} s over {len(sessions)} sessions")
    if problems:
        _flag(audit, "totals_mismatch", f"{len(sessions)} session(s); " + "; ".join(problems))


def _settings_key(run: RunInfo) -> str:
    # Runs of one model with other settings (a seed, a temperature, top-k) are a comparison, not a duplicate.
    config = {k: v for k, v in (run.get("config") or {}).items() if k not in ("name", "output_dir")}
    return json.dumps([run.provider, run.model.lower(), config], sort_keys=True, default=str)


def _duplicates(runs: list[RunInfo], audits: dict[str, RunAudit]) -> None:
    groups: dict[str, list[RunInfo]] = defaultdict(list)
    for run in runs:
        if run.kind != "ensemble":
            groups[_settings_key(run)].append(run)
    for group in groups.values():
        for run in group if len(group) > 1 else []:
            others = ", ".join(r.name for r in group if r is not run)
            _flag(audits[run.name], "duplicate", f"{run.provider}/{run.model} with the same settings as {others}")


def audit_runs(runs: list[RunInfo], solution: Path | None, limits: Thresholds | None = None) -> list[RunAudit]:
    limits = limits or Thresholds()
    audits = {run.name: RunAudit(run.name, run.model, run.provider) for run in runs}
    for run in runs:
        audit = audits[run.name]
        if run.kind == "ensemble":
            audit.notes.append("ensemble: token, latency, cost and energy checks do not apply")
            _check_recomputed(run, audit, solution, limits)
            continue
        _check_tokens_latency_cost(run, audit, limits)
        _check_errors_score(run, audit, limits)
        _check_usage(run, audit)
        _check_recomputed(run, audit, solution, limits)
        _check_energy(run, audit)
        _check_totals(run, audit)
    _duplicates(runs, audits)
    return list(audits.values())
