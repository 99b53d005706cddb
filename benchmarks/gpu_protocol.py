"""The AI Energy Score step of the GPU check: a plausibility check, not a reproduction of the board.

It builds a model with distilgpt2's published architecture (GPT-2, 6 layers, 768 wide, 12 heads, a 50,257-token
vocabulary: about 82 M parameters) and random weights, and runs `wattbench batch --protocol aienergyscore` on it
over a synthetic dataset shaped like EnergyStarAI/text_generation (passages of about 360 words in a `text`
column; the real dataset cannot be downloaded on the GPU machine). Non-reasoning answers are exactly 10 new
tokens, so random weights generate the same amount of work per query as the trained model. The result is set
beside the board's figure for distilgpt2 (1.31 Wh per 1,000 queries on an H100 80GB) by `batch compare-official`.

What differs from the board's run, and so why the ratio is a plausibility check only: the prompts (synthetic, and
tokenized by a tokenizer trained here, so input lengths differ from the real ~369 tokens), the GPU (whatever the
machine has), and the weights' dtype (the hf backend's default here).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.energystar import passage  # noqa: E402

DISTILGPT2 = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=6, n_head=12)
"""distilgpt2's published architecture (config.json of distilbert/distilgpt2)."""
TINY_GPT2 = dict(vocab_size=2000, n_positions=1024, n_embd=64, n_layer=2, n_head=4)
BOARD_MODEL = "distilbert/distilgpt2"


def build_distilgpt2_shape(directory: Path, corpus: Path, quick: bool) -> Path:
    """Random weights in distilgpt2's shape and a byte-level BPE tokenizer trained on the corpus, saved in a folder
    named `distilgpt2` so the board lookup (by model name) finds the board's figure for it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    shape = TINY_GPT2 if quick else DISTILGPT2
    texts = [path.read_text(encoding="utf-8")[:200_000] for path in sorted(corpus.glob("*.json"))]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    # The tokenizer only needs to turn prompts into ids; the model keeps distilgpt2's full vocabulary (its
    # embedding and output layer are most of the per-token cost of so small a model).
    trainer = trainers.BpeTrainer(vocab_size=min(8000, shape["vocab_size"]), special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")  # fmt: skip
    eos = fast.eos_token_id
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(**shape, bos_token_id=eos, eos_token_id=eos, pad_token_id=eos))
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def write_jsonl_dataset(path: Path, rows: int) -> Path:
    """The synthetic dataset as JSONL (the GPU machine has no pyarrow; the dataset reader takes JSONL too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": passage(i)}) + "\n" for i in range(rows)), encoding="utf-8")
    return path


def protocol_step(run_cli: Any, corpus: Path, work: Path, quick: bool) -> dict[str, Any]:
    """`wattbench batch --protocol aienergyscore` on the distilgpt2-shaped model, then `batch compare-official`.
    `run_cli(args, log, timeout_s)` runs the wattbench CLI in a child process and returns its exit code."""
    model_dir = build_distilgpt2_shape(work / "distilgpt2", corpus, quick)
    prompts = 5 if quick else 1000
    dataset = write_jsonl_dataset(work / "text_generation" / "train.jsonl", prompts)
    models = work / "protocol_models.csv"
    models.write_text(",Models to Add,Priority (1=hi),Class,Task,Reasoning State,Chat Template\n"
                      f"0,{model_dir},1,A,text_gen,Off (N/A),N/A (default)\n", encoding="utf-8")  # fmt: skip
    out = work / "protocol_results"
    args = [
        "batch",
        "--protocol",
        "aienergyscore",
        "--models-csv",
        str(models),
        "--prompts-file",
        str(dataset),
        "--num-prompts",
        str(prompts),
        "--backend",
        "hf",
        "--output-dir",
        str(out),
        "--idle-seconds",
        "0",
    ]
    code = run_cli(args, work / "protocol.log", 600)
    master = out / "master_results.csv"
    if not master.exists():
        return {"exit_code": code, "error": (work / "protocol.log").read_text()[-2000:]}
    with open(master, encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    compare_code = run_cli(["batch", "compare-official", "--output-dir", str(out)], work / "compare.log", 120)
    keep = (
        "model_name",
        "status",
        "successful_prompts",
        "total_prompts",
        "total_completion_tokens",
        "gpu_energy_wh",
        "wh_per_1000_queries",
        "comparable",
        "not_comparable_reason",
        "gpu_name",
        "dtype",
        "protocol",
    )
    return {
        "exit_code": code,
        "model": "distilgpt2 shape (random weights)" if not quick else "tiny GPT-2 (random weights)",
        "board_model": BOARD_MODEL,
        "row": {k: row.get(k) for k in keep},
        "compare_exit_code": compare_code,
        "compare": (work / "compare.log").read_text().strip(),
    }


def markdown_lines(step: dict[str, Any]) -> list[str]:
    if not step:
        return []
    if "error" in step:
        return ["", f"AI Energy Score protocol step failed (exit {step['exit_code']}): {step['error'][-300:]}"]
    row = step["row"]
    lines = ["", "Plausibility check, not a reproduction: random weights in the board model's shape, synthetic text.",
             "", "| `batch --protocol aienergyscore` | status | prompts | output tokens | GPU Wh/1000 queries | "
             "comparable | GPU | dtype |", "|---|---|---:|---:|---:|---|---|---|",
             f"| {step['model']} | {row['status']} | {row['successful_prompts']}/{row['total_prompts']} | "
             f"{row['total_completion_tokens']} | {row['wh_per_1000_queries'] or 'n/a'} | {row['comparable']} "
             f"{row['not_comparable_reason'] or ''} | {row['gpu_name'] or 'n/a'} | {row['dtype'] or 'n/a'} |",
             "", "```", step["compare"], "```"]  # fmt: skip
    return lines
