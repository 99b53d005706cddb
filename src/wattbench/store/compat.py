"""The seed tools' files, derived from results.jsonl (which stays the source of truth)."""

from __future__ import annotations

from typing import Any


def results_json(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The seed tools' per-question list (results.jsonl stays the source of truth)."""
    return [
        {
            "id": r["id"],
            "question": r["question"],
            "gt_value": r["gt_value"],
            "gt_unit": r["gt_unit"],
            "gt_ref": r["gt_ref"],
            "pred_value": r["pred_value"],
            "pred_unit": r["pred_unit"],
            "pred_ref": r["pred_ref"],
            "pred_explanation": r["pred_explanation"],
            "value_correct": r["value_correct"],
            "ref_score": r["ref_score"],
            "na_correct": r["na_correct"],
            "weighted_score": r["weighted_score"],
            "latency_seconds": r["latency_s"],
            "retrieval_seconds": r["retrieval_s"],
            "generation_seconds": r["generation_s"],
            "error": r["error"],
            "retry_count": r["retries"],
        }
        for r in records
    ]
