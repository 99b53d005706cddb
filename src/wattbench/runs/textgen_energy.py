"""Each prompt's share of its generate call's energy, for its record (prompts.jsonl).

Several prompts in flight on one engine (batch_size > 1) each get what the in-flight rule gives them
(energy/inflight.py: their own times and the sampled power), with prefill and decode; a prompt alone in its call
gets the whole window, split at its first token (energy/phases.py). Where the engine told no request's events
(an engine that reports none), the call is split by output tokens (energy/shares.py), as before. Either way the
shares add up to the call's window exactly, and the record says which rule gave its share (`energy_share`).
"""

from __future__ import annotations

from typing import Any

from wattbench.energy.base import Measurement
from wattbench.energy.inflight import RULE
from wattbench.energy.phases import gpu_phase_j, methods_text, phase_methods_text, window_warnings
from wattbench.energy.shares import WEIGHT, split_j


def _token_shares(total_j: float | None, weights: list[float]) -> list[float | None]:
    if total_j is None:
        return [None] * len(weights)
    return list(split_j(total_j, weights))


def prompt_energy(window: Measurement | None, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per prompt record of one call (in the call's order), the energy fields of its PromptRecord."""
    how = {"energy_method": methods_text(window), "energy_warnings": window_warnings(window)}
    attributed = window.requests if window is not None and len(records) > 1 else []
    if len(attributed) == len(records) and any(attributed):
        out = []
        for share in attributed:
            gpu, cpu = share.get("gpu") or {}, share.get("cpu") or {}
            out.append({"gpu_energy_j": gpu.get("energy_j"), "cpu_energy_j": cpu.get("energy_j"),
                        "prefill_energy_j": gpu.get("prefill_energy_j"), "decode_energy_j": gpu.get("decode_energy_j"),
                        "energy_share": RULE, "phase_energy_method": RULE, **how})  # fmt: skip
        return out
    energy = window.totals_j() if window else {}
    # A prompt that failed after generating (a stream cut off) weighs the tokens it was sent.
    weights = [float(r.get("completion_tokens") or r.get("failed_output_tokens") or 0) for r in records]
    gpu_j, cpu_j = (_token_shares(energy.get(kind), weights) for kind in ("gpu", "cpu"))
    prefill_j, decode_j = gpu_phase_j(window)  # one request alone: its window split at its first token
    phases = phase_methods_text(window)
    return [{"gpu_energy_j": g, "cpu_energy_j": c, "prefill_energy_j": prefill_j, "decode_energy_j": decode_j,
             "energy_share": WEIGHT, "phase_energy_method": phases, **how}
            for g, c in zip(gpu_j, cpu_j)]  # fmt: skip
