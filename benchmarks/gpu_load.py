"""The GPU check's load step: `wattbench load --provider hf` at batch sizes 1, 8 and 32 on a random-weight model
in Qwen2.5-7B's shape, each point measured in its steady state, with J per output token beside the ML.ENERGY
reference (Llama-3.1-8B on one H100 with vLLM: 0.12 J per output token at batch 64; hf generate is not vLLM, so the
figures are read as an order of magnitude, not a match).

The model is built in code (benchmarks/gpu_models.py) and loaded from its directory by the hf engine, once per
batch size, as the sweep starts a fresh engine for each point.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def load_step(
    wattbench: Callable[[list[str], Path, float], int], model_dir: Path, work: Path, quick: bool
) -> dict[str, Any]:
    """`wattbench load` on the hf engine at B = 1, 8, 32 (1, 2 with --quick): the points of its load.json."""
    sizes = "1,2" if quick else "1,8,32"
    config = work / "load.toml"
    config.write_text(
        f'provider = "hf"\nmodel = "{model_dir}"\n[generation]\ndtype = "bf16"\n[energy]\nidle_seconds = 0\n'
    )
    prompts = work / "load_prompts.jsonl"
    texts = [f"Passage {i}: " + "energy use of data centres and accelerators " * 24 for i in range(8)]
    prompts.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts), encoding="utf-8")
    out = work / "load_results"
    args = ["load", "--config", str(config), "--batch-sizes", sizes, "--requests", "4" if quick else "64",
            "--max-tokens", "16" if quick else "128", "--prompts-file", str(prompts),
            "--output-dir", str(out)]  # fmt: skip
    code = wattbench(args, work / "load.log", 420)
    result = out / "load.json"
    if not result.exists():
        return {"exit_code": code, "error": (work / "load.log").read_text()[-2000:]}
    data = json.loads(result.read_text())
    model = "tiny model (--quick)" if quick else "Qwen2.5-7B shape"
    return {"exit_code": code, "model": model, "anchor": data["anchor"], "points": data["points"]}


def _fmt(value: Any, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown_lines(step: dict[str, Any]) -> list[str]:
    model = step.get("model", "Qwen2.5-7B shape")
    lines = ["", f"| `wattbench load --provider hf` ({model}) | B | J/output token | output tokens/s | avg GPU W | "
             "TTFT p50 s | TPOT p50 s | problem |", "|---|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    if "points" not in step:
        return [*lines, f"| failed (exit {step.get('exit_code')}) | | | | | | | {step.get('error', '')[-200:]!r} |"]
    for p in step["points"]:
        lines.append(f"| steady state | {p['batch_size']} | {_fmt(p['j_per_output_token'], 4)} | "
                     f"{_fmt(p['output_tokens_per_s'], 1)} | {_fmt(p['avg_gpu_power_w'], 1)} | "
                     f"{_fmt(p['ttft_p50_s'], 3)} | {_fmt(p['tpot_p50_s'], 4)} | "
                     f"{p['problem'] or p['energy_unavailable'] or ''} |")  # fmt: skip
    return [*lines, "", f"Reference: {step['anchor']}."]
