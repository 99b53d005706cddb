"""The official AI Energy Score text-generation protocol (`wattbench batch --protocol aienergyscore`).

What the published method is, and where each choice comes from (read December 2026):
- Dataset: `EnergyStarAI/text_generation`, split train, column `text`, the first N rows in file order (N = 1,000
  by default, `num_samples` in AIEnergyScore's text_generation.yaml; optimum-benchmark's energy_star scenario and
  ai_energy_benchmarks both take the first N).
- Batch size 1 (index.md "Batching"; `input_shapes.batch_size: 1`).
- Greedy decoding: optimum-benchmark's energy_star scenario sets `do_sample=False, num_beams=1`. (The
  ai_energy_benchmarks runner behind AIEnergyScore's Docker image since November 2025 samples at temperature 0.7;
  with min = max new tokens the token count, which drives energy, is the same, and greedy keeps runs repeatable.)
- Answer length: a non-reasoning row generates exactly 10 new tokens (min = max = 10, text_generation.yaml and
  batch_runner.py); a reasoning row up to 8,192 (batch_runner.py: max_new_tokens=8192, min_new_tokens=1).
- Prompt rendering: the dataset's text is tokenized as it is, without a chat template (optimum-benchmark's
  text-generation preprocessing and ai_energy_benchmarks' PyTorch backend). Reasoning rows keep their family's
  switch (a chat template flag, a /think prefix, Harmony for gpt-oss), as batch_runner.py passes it.
- Warm-up: optimum-benchmark's energy_star scenario, outside the measured window: one generate call of the full
  answer length on the first prompt, then 10 calls of 2 new tokens on it. (ai_energy_benchmarks' runner has no
  warm-up; its window then holds one-off start-up work that the board's optimum-benchmark figures do not.)
- One measured pass, one window over all N prompts, GPU energy only: the board's total is the sum of the
  preprocess, prefill and decode phases, where decode = generate - prefill, so it equals the energy of the one
  generate pass over the dataset; ai_energy_benchmarks measures that pass as one window. index.md's "average of 10
  runs" is available as --repeats 10 (the figure is then the mean over the passes).
- Hardware: one NVIDIA H100 80GB for classes A and B (index.md: running them on several GPUs invalidates the
  result); class C on several. A run elsewhere is measured and marked not comparable, with the reason.
- Reported figure: GPU energy in Wh per 1,000 queries.
"""

from __future__ import annotations

from typing import Any, ClassVar

from wattbench.protocols.base import Protocol, RowFacts
from wattbench.reasoning import ReasoningMode

ANSWER_TOKENS = 10
REASONING_MAX_NEW_TOKENS = 8192
BATCH_SIZE = 1
WARMUP_FULL_CALLS = 1
WARMUP_SHORT_CALLS = 10
WARMUP_SHORT_TOKENS = 2
BOARD_GPU = "NVIDIA H100 80GB"
SINGLE_GPU_CLASSES = ("A", "B")

# Settings the protocol fixes: (field, flag, required value, why). A setting given with another value is refused.
_FIXED: tuple[tuple[str, str, Any, str], ...] = (
    ("max_new_tokens", "--max-new-tokens", ANSWER_TOKENS, "non-reasoning answers are exactly 10 new tokens"),
    ("reasoning_max_new_tokens", "--reasoning-max-new-tokens", REASONING_MAX_NEW_TOKENS,
     "reasoning answers get up to 8,192 new tokens"),
    ("batch_size", "--batch-size", BATCH_SIZE, "the board measures batch size 1"),
    ("prompt_column", "--prompt-column", "text", "the dataset's prompts are its 'text' column"),
)  # fmt: skip


def _is_h100_80gb(name: str) -> bool:
    lowered = name.lower()
    return "h100" in lowered and ("80gb" in lowered.replace(" ", "") or "hbm3" in lowered)


class AIEnergyScore(Protocol):
    name: ClassVar[str] = "aienergyscore"
    summary: ClassVar[str] = (
        "the official AI Energy Score method: EnergyStarAI/text_generation (first 1,000 rows), batch size 1, "
        "greedy, exactly 10 new tokens (up to 8,192 when reasoning), GPU energy in Wh/1,000 queries, one H100 "
        "80GB for classes A and B"
    )
    measures_official_dataset: ClassVar[bool] = True

    def settle(self, values: dict[str, Any], given: set[str]) -> dict[str, Any]:
        for field, flag, required, why in _FIXED:
            if field in given and values.get(field) not in (None, required):
                raise ValueError(
                    f"{flag} ({field}) = {values[field]}: refused with protocol aienergyscore ({why}); drop it, "
                    "or use --protocol wattbench"
                )
        warmup_calls = WARMUP_FULL_CALLS + WARMUP_SHORT_CALLS
        # A config written out and read back (a local or Ray job's) gives the settled count: that is no change.
        if "warmup_prompts" in given and values.get("warmup_prompts") != warmup_calls:
            raise ValueError(
                "--warmup (warmup_prompts): refused with protocol aienergyscore (its warm-up is fixed: one "
                "full-length and 10 two-token calls on the first prompt); drop it, or use --protocol wattbench"
            )
        meter = values.get("energy_meter")
        if meter in ("none", "rapl"):
            raise ValueError(
                f"--meter (energy.meter) = {meter}: refused with protocol aienergyscore (its figure is GPU energy, "
                "which this meter does not measure); use --meter auto or nvml"
            )
        return {"max_new_tokens": ANSWER_TOKENS, "reasoning_max_new_tokens": REASONING_MAX_NEW_TOKENS,
                "batch_size": BATCH_SIZE, "warmup_prompts": warmup_calls}  # fmt: skip

    def adapt_mode(self, mode: ReasoningMode) -> ReasoningMode:
        if mode.expected_thinking or mode.harmony:
            return mode
        from dataclasses import replace

        # The dataset's text goes in as it is: no chat template, no system prompt, no switch.
        note = "aienergyscore: the dataset text without a chat template, as the official pipeline tokenizes it"
        return replace(mode, use_chat_template=False, system_prompt=None, prompt_prefix=None, assistant_prefix=None,
                       chat_template_kwargs={}, notes=[*mode.notes, note])  # fmt: skip

    def warmup_calls(self, num_prompts: int, warmup_prompts: int) -> list[tuple[list[int], int | None]]:
        return [([0], None)] * WARMUP_FULL_CALLS + [([0], WARMUP_SHORT_TOKENS)] * WARMUP_SHORT_CALLS

    def plan_problem(self, model_class: str | None, gpus: list[int] | None, tensor_parallel: int) -> str | None:
        if (model_class or "").upper() not in SINGLE_GPU_CLASSES:
            return None
        if tensor_parallel > 1:
            return f"tensor_parallel {tensor_parallel}"
        if gpus is not None and len(gpus) > 1:
            return f"gpus {','.join(str(g) for g in gpus)}"
        return None

    def judge(self, facts: RowFacts) -> list[str]:
        notes = []
        model_class = (facts.model_class or "").upper()
        count = len(facts.gpus_used)
        if count == 0:
            notes.append("no GPU used: the protocol's figure is GPU energy on an H100 80GB")
        elif model_class in SINGLE_GPU_CLASSES and count != 1:
            notes.append(f"class {model_class} ran on {count} GPUs; the protocol requires exactly one")
        off_board = sorted({name for name in facts.gpus_used if not _is_h100_80gb(name)})
        if off_board:
            notes.append(f"GPU {', '.join(off_board)}; the board measures on {BOARD_GPU}")
        if count and facts.gpu_energy_j is None:
            notes.append("GPU energy not measured")
        if not facts.expected_thinking:
            wrong = sorted({t for t in facts.completion_tokens if t != ANSWER_TOKENS}, key=lambda t: (t is None, t))
            if wrong:
                notes.append(f"answers of {', '.join(str(t) for t in wrong)} tokens; the protocol generates exactly 10")
        if facts.status != "completed":
            notes.append(f"run {facts.status}")
        return notes

    def record(self, settings: dict[str, Any], facts: RowFacts, engine: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": self.name,
            "dataset": facts.dataset,
            "prompts": facts.prompts_used,
            "repeats": settings.get("repeats"),
            "batch_size": BATCH_SIZE,
            "decoding": "greedy (temperature 0, no sampling)",
            "answer_tokens": None if facts.expected_thinking else ANSWER_TOKENS,
            # The official reasoning minimum is 1; here it is 0, which differs only for an empty answer.
            "min_new_tokens": 0 if facts.expected_thinking else ANSWER_TOKENS,
            "max_new_tokens": REASONING_MAX_NEW_TOKENS if facts.expected_thinking else ANSWER_TOKENS,
            "prompt_rendering": (
                "family switch (chat template)" if facts.expected_thinking else "dataset text, no chat template"
            ),
            "warmup": {"full_length_calls": WARMUP_FULL_CALLS, "short_calls": WARMUP_SHORT_CALLS,
                       "short_call_tokens": WARMUP_SHORT_TOKENS, "prompt_index": 0, "measured": False},
            "energy_scope": "GPU only",
            "unit": "Wh per 1,000 queries",
            "gpus_used": list(facts.gpus_used),
            "gpu_count": len(facts.gpus_used),
            "engine": engine,
        }  # fmt: skip


PROTOCOL = AIEnergyScore()
