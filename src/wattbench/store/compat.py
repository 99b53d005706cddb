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


SEED_NUMBERS = ("overall_score", "value_accuracy", "ref_overlap", "na_accuracy", "avg_latency_seconds",
                "estimated_cost_usd")  # fmt: skip
SEED_COUNTS = ("input_tokens", "output_tokens", "num_questions", "error_count")
SEED_HARDWARE = ("gpu_energy_wh", "gpu_avg_power_watts", "gpu_vram_allocated_gb", "model_disk_size_gb",
                 "model_load_time_seconds")  # fmt: skip
"""The top-level and `hardware` keys KohakuRAG_UI's scripts read from summary.json (audit_experiments,
plot_model_size, generate_results_matrix, run_ensemble)."""


RESOURCE_KEYS = {"gpu_energy_wh": "gpu_energy_wh", "gpu_avg_power_watts": "gpu_avg_power_w",
                 "gpu_vram_allocated_gb": "gpu_vram_allocated_gb", "model_disk_size_gb": "model_disk_size_gb",
                 "model_load_time_seconds": "model_load_time_s"}  # fmt: skip
"""The seed's `hardware` key -> wattbench's own key under `resources`, which keeps null for unmeasured."""


def _why_null(summary: dict[str, Any], key: str) -> str:
    hardware = summary.get("hardware") or {}
    if key in ("gpu_energy_wh", "gpu_avg_power_w"):
        why = ((summary.get("energy") or {}).get("unavailable") or {}).get("gpu")
        return str(why or "no GPU of this machine was measured for the questions")
    if key == "gpu_vram_allocated_gb":
        if not hardware.get("gpus_used"):
            return "the engine holds no GPU of this machine (a CPU, server or API engine)"
        return "no VRAM reading: torch and the power sampler gave none"
    if key == "model_disk_size_gb":
        return "the model's weights are not on this machine's disk (a server or an API)"
    return "not recorded"


def resources_of(summary: dict[str, Any]) -> dict[str, Any]:
    """wattbench's own resource figures: null where unmeasured, with the reason in `unavailable`."""
    hardware = summary.get("hardware") or {}
    values = {own: hardware.get(seed) for seed, own in RESOURCE_KEYS.items()}
    return {**values, "unavailable": {k: _why_null(summary, k) for k, v in values.items() if v is None}}


def seed_view(summary: dict[str, Any]) -> dict[str, Any]:
    """`summary` with the seed's keys in the seed's types and its convention: a number always, 0 for what was not
    measured or priced ("for API models, VRAM and power metrics will be zero"). Its scripts format and compare
    them (`f"{cost:.4f}"`, `gpu_energy_wh > 0`) and stop on a null. wattbench's own fields (`scores`, `cost.usd`,
    `energy`, `resources`, ...) keep null with the reason, and wattbench's readers read those, never these."""
    out = dict(summary)
    if "resources" not in out:  # taken before the seed's hardware keys become 0
        out["resources"] = resources_of(summary)
    out.setdefault("error_count", out.get("num_errors", 0))
    for key in SEED_NUMBERS:
        out[key] = 0.0 if out.get(key) is None else out[key]
    for key in SEED_COUNTS:
        out[key] = 0 if out.get(key) is None else out[key]
    hardware = dict(out.get("hardware") or {})
    for key in SEED_HARDWARE:
        hardware[key] = 0.0 if hardware.get(key) is None else hardware[key]
    out["hardware"] = hardware
    return out
