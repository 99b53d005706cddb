"""The reasoning step of `make gpu-check` (issue 35): `wattbench batch --workload wattbot` on a random-weight model
in Qwen3-0.6B's shape, Off and On, for 10 questions, so a lent GPU measures what the thinking costs per question.

The model dir is named like a Qwen3 checkpoint, so the family table resolves it as Qwen3 (`enable_thinking` through
the chat template), and its chat template takes `enable_thinking` as Qwen3's does (Off writes an empty thinking
block). Random weights never close the thinking block: every On answer runs to its thinking budget and is counted
`thinking_truncated`, which is what makes the step's energy figure a measured cost of `reasoning_max_tokens`
tokens of thinking per question. Accuracy here means nothing; the CPU figures in RESULTS.md give the flow.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

QWEN3_06B = dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128, max_position_embeddings=40960, rope_theta=1e6,
                 rms_norm_eps=1e-6, tie_word_embeddings=True)  # fmt: skip
"""Qwen3-0.6B's published architecture (config.json of Qwen/Qwen3-0.6B)."""

TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            head_dim=16, max_position_embeddings=4096)  # fmt: skip

THINKING_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
"""Qwen3's switch as its template has it: with enable_thinking=False the turn opens with an empty thinking block."""

THINKING_TOKENS = 256
QUESTIONS = 10


def build_qwen3_shaped(directory: Path, tokenizer_dir: Path, quick: bool) -> Path:
    """Random weights in Qwen3-0.6B's shape (TINY with --quick) with the small model's tokenizer and a
    Qwen3-style chat template; `directory`'s name makes the family table read it as Qwen3."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.chat_template = THINKING_TEMPLATE
    shape = dict(TINY if quick else QWEN3_06B, vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                 pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(**shape)).to(torch.bfloat16)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def reasoning_step(wattbench: Callable[[list[str], Path, float], int], tokenizer_dir: Path, embedder: Path,
                   data_dir: Path, work: Path, quick: bool) -> dict[str, Any]:  # fmt: skip
    """The two rows (Off, On) of one Qwen3-shaped model through `batch --workload wattbot`, then `batch reasoning`."""
    model = build_qwen3_shaped(work / "Qwen3-0.6B-random", tokenizer_dir, quick)
    models = work / "reasoning_models.csv"
    models.write_text(",Models to Add,Priority (1=hi),Class,Task,Reasoning State,Chat Template\n"
                      f"0,{model},1,A,text_gen,Off,enable_thinking=False\n"
                      f"1,{model},1,A,text_gen,On,enable_thinking=True\n", encoding="utf-8")  # fmt: skip
    run_toml = work / "reasoning_run.toml"
    run_toml.write_text(
        f'limit = {2 if quick else QUESTIONS}\n[generation]\ndtype = "bf16"\nmax_tokens = 80\n'
        f"reasoning_max_tokens = {32 if quick else THINKING_TOKENS}\n"
        f'[retrieval]\nembedder = "{embedder}"\nindex_path = "{work / "index.sqlite"}"\n'
        f"[energy]\nidle_seconds = {0 if quick else 5}\n"
    )
    out = work / "reasoning_batch"
    args = ["batch", "--workload", "wattbot", "--models-csv", str(models), "--backend", "hf",
            "--run-config", str(run_toml), "--data-dir", str(data_dir), "--output-dir", str(out),
            "--idle-seconds", "0" if quick else "5"]  # fmt: skip
    code = wattbench(args, work / "reasoning_batch.log", 480)
    master = out / "master_results.csv"
    if not master.exists():
        return {"exit_code": code, "error": (work / "reasoning_batch.log").read_text()[-2000:]}
    with open(master, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    keep = ("reasoning_state", "status", "total_prompts", "overall_score", "reasoning_tokens_per_question",
            "thinking_truncated", "avg_latency_seconds", "avg_energy_per_prompt_wh", "gpu_energy_wh",
            "energy_scope", "energy_method")  # fmt: skip
    table_json = work / "reasoning.json"
    wattbench(["batch", "reasoning", "--output-dir", str(out), "--data-dir", str(data_dir), "--json"],
              table_json, 120)  # fmt: skip
    try:
        comparison = json.loads(table_json.read_text())
    except ValueError:
        comparison = {"error": table_json.read_text()[-1000:]}  # the log of a failed `batch reasoning`
    shutil.rmtree(model)
    return {"exit_code": code, "rows": [{k: row.get(k) for k in keep} for row in rows], "comparison": comparison}


def _cell(value: Any) -> str:
    return "n/a" if value in (None, "") else str(value)


def markdown_lines(step: dict[str, Any]) -> list[str]:
    lines = ["", "| `batch --workload wattbot`, Qwen3-0.6B shape, random weights | status | questions | "
             "reasoning tok/q | truncated | latency s/q | Wh/question | scope | method |",
             "|---|---|---:|---:|---:|---:|---:|---|---|"]  # fmt: skip
    if "error" in step:
        return [*lines, f"| failed (exit {step.get('exit_code')}) | {step['error'][-200:]!r} | | | | | | | |"]
    for row in step.get("rows", []):
        lines.append(f"| {row['reasoning_state']} | {row['status']} | {_cell(row['total_prompts'])} | "
                     f"{_cell(row['reasoning_tokens_per_question'])} | {_cell(row['thinking_truncated'])} | "
                     f"{_cell(row['avg_latency_seconds'])} | {_cell(row['avg_energy_per_prompt_wh'])} | "
                     f"{_cell(row['energy_scope'])} | {_cell(row['energy_method'])} |")  # fmt: skip
    comparison = step.get("comparison")
    for entry in comparison if isinstance(comparison, list) else []:
        ratio, ci = entry.get("energy_ratio"), entry.get("energy_ratio_ci95")
        if ratio is not None and ci:
            lines.append(f"\n{entry['state']} uses {ratio:.2f}x [{ci[0]:.2f}, {ci[1]:.2f}] of {entry['baseline']}'s "
                         "energy per question (paired over the questions both answered).")  # fmt: skip
    return lines
