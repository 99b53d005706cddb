"""An ensemble's records and summary in the same schema as a run's, so every reader (the migration guide's
post-processing snippet, the matrix, the audit, the plots) treats an ensemble dir like any run dir.

What an ensemble costs is what its members cost: its latency, tokens, money and energy per question are the
members' sums for that question (answering with the ensemble means running every member). A figure some member
did not record is None, never a partial sum.
"""

from __future__ import annotations

import statistics
from typing import Any

from wattbench.data.wattbot import Question
from wattbench.energy.shares import PerQuery
from wattbench.report.ensemble import Decision
from wattbench.scoring.wattbot import score_row

ADDED_UP = ("latency_s", "retrieval_s", "generation_s", "prompt_tokens", "completion_tokens")


def _sum(values: list[Any]) -> Any:
    """The sum when every value is a number, else None (one member did not record it)."""
    if not values or any(not isinstance(v, int | float) or isinstance(v, bool) for v in values):
        return None
    return sum(values)


def _question_energy_j(record: dict[str, Any]) -> tuple[float | None, str | None]:
    """(a member's question energy on one kind of scope, that kind): GPU where measured, else the CPU package;
    never the two added together."""
    energy = (record.get("energy") or {}).get("energy_j") or {}
    for kind in ("gpu", "cpu"):
        values = [j for scope, j in energy.items() if scope.split(":", 1)[0] == kind]
        if values:
            return sum(values), kind
    return None, None


def _energy_of(present: list[dict[str, Any]]) -> dict[str, Any]:
    """The members' question energy, summed only when every member measured it on the same kind of scope."""
    measured = [_question_energy_j(r) for r in present]
    kinds = {kind for _, kind in measured}
    if len(kinds) != 1 or None in kinds:
        return {"energy_j": None, "energy_scope": None}
    return {"energy_j": _sum([j for j, _ in measured]), "energy_scope": kinds.pop()}


def ensemble_record(
    decision: Decision,
    question: Question | None,
    member_records: list[dict[str, Any] | None],
) -> dict[str, Any]:
    """One question's record: the chosen answer, its score (when the answer is known), the members' sums."""
    row = decision.row
    seen = next((r for r in member_records if r), {})
    gt = question or Question(
        decision.id, seen.get("question", ""), answer_value=seen.get("gt_value", ""),
        answer_unit=seen.get("gt_unit", ""), ref_id=seen.get("gt_ref", ""),
    )  # fmt: skip
    scored = None
    if gt.answer_value.strip():
        scored = score_row(gt.id, gt.answer_value, gt.answer_unit, gt.ref_id, row.get("answer_value", ""),
                           row.get("answer_unit", ""), row.get("ref_id", ""), mode="kaggle")  # fmt: skip
    present = [r or {} for r in member_records]
    record: dict[str, Any] = {
        "id": decision.id,
        "question": gt.question,
        "gt_value": gt.answer_value,
        "gt_unit": gt.answer_unit,
        "gt_ref": gt.ref_id,
        "pred_value": row.get("answer_value", ""),
        "pred_unit": row.get("answer_unit", ""),
        "pred_ref": row.get("ref_id", ""),
        "pred_answer": row.get("answer", ""),
        "pred_explanation": row.get("explanation", ""),
        "value_correct": None if scored is None else scored.value_correct,
        "ref_score": None if scored is None else scored.ref_score,
        "na_correct": None if scored is None else scored.na_correct,
        "weighted_score": None if scored is None else scored.weighted,
        **{key: _sum([r.get(key) for r in present]) for key in ADDED_UP},
        "finish_reason": "ensemble",
        "retries": 0,
        "attempts": 0,
        "retrieved": [],
        "raw_output": "",
        "parse_error": None,
        "error": None,
        **_energy_of(present),
        "winner": decision.winner,
        "voters": decision.voters,
        "tally": decision.tally,
    }
    return record


def _members_sum(summaries: list[dict[str, Any]], *paths: str) -> Any:
    """The members' sum of a figure, read from the first of `paths` (dotted) each summary has."""
    values = []
    for summary in summaries:
        found = None
        for dotted in paths:
            node: Any = summary
            for part in dotted.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                found = node
                break
        values.append(found)
    return _sum(values)


def _timing(records: list[dict[str, Any]], total_time: float | None, combine_s: float) -> dict[str, Any]:
    latencies = [r["latency_s"] for r in records if r["latency_s"] is not None]
    known = bool(latencies) and len(latencies) == len(records)
    return {
        "total_time_s": total_time,
        "combine_s": combine_s,
        "questions_time_s": sum(latencies) if known else None,
        "latency_s": {
            "mean": statistics.fmean(latencies) if known else None,
            "p50": statistics.median(latencies) if known else None,
            "max": max(latencies) if known else None,
        },
        "retrieval_s": _sum([r["retrieval_s"] for r in records]),
        "generation_s": _sum([r["generation_s"] for r in records]),
        "questions_per_min": 60 * len(records) / sum(latencies) if known and sum(latencies) else None,
    }


def _one_scope(records: list[dict[str, Any]]) -> str | None:
    kinds = {r.get("energy_scope") for r in records}
    return kinds.pop() if len(kinds) == 1 else None


def _complete(questions: int) -> dict[str, Any]:
    """An ensemble decides every question: it is complete, with nothing failed."""
    return {
        "num_questions": questions, "num_done": questions, "num_answered": questions, "num_failed": 0,
        "num_errors": 0, "num_unparseable": 0, "num_recovered": 0, "status": "complete", "stop_reason": None,
        "complete": True,
    }  # fmt: skip


def _energy(question_j: float | None, questions: int, output_tokens: int | None, scope: str | None) -> dict[str, Any]:
    unavailable = (
        {}
        if question_j is not None
        else {"energy": "not every member measured its questions' energy on one kind of scope"}
    )
    return {
        "phases": {},
        "total_j": question_j,
        "by_kind_wh": {},
        "unavailable": unavailable,
        "scope": scope if question_j is not None else None,
        "questions": PerQuery(question_j, questions, output_tokens or 0).to_dict(),
        "co2e_g": None,
        "grid_intensity_g_per_kwh": None,
        "note": "an ensemble's time, tokens, cost and energy are its members' sums",
    }


def ensemble_run_summary(
    name: str,
    members: list[str],
    member_summaries: list[dict[str, Any]],
    records: list[dict[str, Any]],
    scores: dict[str, Any],
    combine_s: float,
) -> dict[str, Any]:
    """Every key a run's summary.json has, for an ensemble."""
    kaggle = scores.get("kaggle") or {}
    mean_latency = _timing(records, None, combine_s)["latency_s"]["mean"]
    input_tokens = _sum([r["prompt_tokens"] for r in records])
    output_tokens = _sum([r["completion_tokens"] for r in records])
    question_j = _sum([r["energy_j"] for r in records])
    usd = _members_sum(member_summaries, "cost.usd", "estimated_cost_usd")
    total_time = _members_sum(member_summaries, "total_time_seconds", "timing.total_time_s")
    # The members' own GPU figure (null when one did not measure it), not the seed's view of it (0 then).
    gpu_j = _members_sum(member_summaries, "energy.questions_by_scope.gpu.energy_j")
    gpu_wh = None if gpu_j is None else gpu_j / 3600.0
    model = "+".join(members)
    return {
        "schema_version": 1,
        "name": name,
        "kind": "ensemble",
        "model_id": model,
        "llm_provider": "ensemble",
        **_complete(len(records)),
        "overall_score": kaggle.get("overall"),
        "value_accuracy": kaggle.get("value_accuracy"),
        "ref_overlap": kaggle.get("ref_overlap"),
        "na_accuracy": kaggle.get("na_recall"),
        "scores": scores,
        "total_time_seconds": total_time,
        "avg_latency_seconds": mean_latency,
        "timing": _timing(records, total_time, combine_s),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "num_usage_unknown": sum(1 for r in records if r.get("usage_unknown")),
        "estimated_cost_usd": usd,
        "cost": {"usd": usd, "price_input_per_1m": None, "price_output_per_1m": None},
        "hardware": {"gpu_energy_wh": gpu_wh, "gpu_avg_power_watts": None, "gpu_vram_allocated_gb": None},
        "energy": _energy(question_j, len(records), output_tokens, _one_scope(records)),
        "backend": {"engine": "ensemble", "model_id": model, "members": members, "devices": []},
        "sessions": [{"wall_s": combine_s, "questions": len(records)}],
        "config": {"name": name, "provider": "ensemble", "model": model},
    }
