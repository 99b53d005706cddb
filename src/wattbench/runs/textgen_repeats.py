"""A batch row's figures pass by pass, and their spread across passes (stats/repeats.py).

Each measured pass over the prompts is a repeat: its energy per prompt on the headline scope (GPU when any
GPU share is known, else the CPU package), J per output token, output tokens per second over the pass's wall
time, and the p50 of latency and of TTFT. The spread of each across the passes goes into the row's summary
(`repeats`) and into the master row (`repeat_<figure>_mean/_sd/_cv/_ci95_low/_ci95_high`).
"""

from __future__ import annotations

import statistics
from typing import Any

from wattbench.energy.base import Measurement
from wattbench.energy.carbon import J_PER_WH
from wattbench.stats.repeats import ONE_PASS, Spread, spread
from wattbench.store.schema import PromptRecord

FIGURES = ("energy_per_prompt_wh", "j_per_output_token", "output_tokens_per_s", "latency_p50_s", "ttft_p50_s")
STATS = ("mean", "sd", "cv", "ci95_low", "ci95_high")


def _energy_j(ok: list[PromptRecord]) -> tuple[float | None, str | None]:
    """The pass's energy on one scope: GPU if every answered prompt has a GPU share, else the CPU package."""
    for kind, values in (("gpu", [r.gpu_energy_j for r in ok]), ("cpu", [r.cpu_energy_j for r in ok])):
        if values and all(v is not None for v in values):
            return float(sum(v for v in values if v is not None)), kind
    return None, None


def per_repeat(
    records: list[PromptRecord], wall_s: list[float], windows: list[Measurement] | None = None
) -> list[dict[str, Any]]:
    """One dict of FIGURES per pass (None where a pass did not measure a figure), with the pass's own meter window
    (`window`) where it was taken."""
    out = []
    windows = windows or []
    for repeat, wall in enumerate(wall_s):
        ok = [r for r in records if r.repeat == repeat and r.status == "ok"]
        energy_j, scope = _energy_j(ok)
        tokens = [r.completion_tokens for r in ok]
        output = sum(t for t in tokens if t is not None) if ok and None not in tokens else None
        ttfts = [r.ttft_s for r in ok if r.ttft_s is not None]
        latencies = [r.latency_s for r in ok if r.latency_s is not None]
        out.append({
            "repeat": repeat, "answered": len(ok), "wall_s": wall, "scope": scope,
            "energy_per_prompt_wh": None if energy_j is None or not ok else energy_j / len(ok) / J_PER_WH,
            "j_per_output_token": None if energy_j is None or not output else energy_j / output,
            "output_tokens_per_s": None if output is None or wall <= 0 else output / wall,
            "latency_p50_s": statistics.median(latencies) if latencies else None,
            "ttft_p50_s": statistics.median(ttfts) if ttfts else None,
            "window": windows[repeat].to_dict() if repeat < len(windows) else None,
        })  # fmt: skip
    return out


def spreads(passes: list[dict[str, Any]]) -> dict[str, Spread]:
    return {figure: spread([p[figure] for p in passes]) for figure in FIGURES}


def master_columns(found: dict[str, Spread]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for figure, s in found.items():
        low, high = s.ci95 if s.ci95 is not None else (None, None)
        for stat, value in zip(STATS, (s.mean, s.sd, s.cv, low, high)):
            out[f"repeat_{figure}_{stat}"] = value
    return out


def section(passes: list[dict[str, Any]], stop: str | None, prompts_sha256: str) -> dict[str, Any]:
    """The summary's `repeats`: each pass's figures, each figure's spread, why the passes stopped, and the prompt
    set's hash (what a resumed row checks before it keeps a finished pass, runs/textgen_resume.py)."""
    found = spreads(passes)
    return {
        "passes": len(passes),
        "stop": stop,
        "prompts_sha256": prompts_sha256,
        "note": ONE_PASS if len(passes) == 1 else "",
        "per_repeat": passes,
        "spread": {figure: s.to_dict() for figure, s in found.items()},
    }
