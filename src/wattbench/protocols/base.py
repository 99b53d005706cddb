"""What a batch protocol decides, and the default one (`wattbench`).

A protocol works on plain values (the config's fields, a row's facts), so the config package can apply it while a
config is validated and the run code can ask it what to warm up and whether a finished row is comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from wattbench.reasoning import ReasoningMode


@dataclass(frozen=True)
class RowFacts:
    """What a finished batch row measured, as a protocol judges it."""

    model_class: str | None
    expected_thinking: bool
    status: str
    gpus_used: tuple[str, ...]
    """Names of the GPUs the engine held, one per GPU."""
    gpu_energy_j: float | None
    completion_tokens: tuple[int | None, ...]
    """Output tokens of each answered prompt."""
    prompts_used: int
    backend: str
    dataset: dict[str, Any] = field(default_factory=dict)


class Protocol:
    """The default protocol: fixed-length answers on any prompt set, for per-token comparisons."""

    name: ClassVar[str] = "wattbench"
    summary: ClassVar[str] = (
        "fixed-length answers (--max-new-tokens, 256; up to --reasoning-max-new-tokens, 4,096, when reasoning) on "
        "any prompt set: energy per token compares across models on your own hardware"
    )
    measures_official_dataset: ClassVar[bool] = False

    def settle(self, values: dict[str, Any], given: set[str]) -> dict[str, Any]:
        """Settings this protocol fixes ({field: value}); a given setting that breaks it is a ValueError."""
        return {}

    def adapt_mode(self, mode: ReasoningMode) -> ReasoningMode:
        """The mode a row runs in under this protocol."""
        return mode

    def warmup_calls(self, num_prompts: int, warmup_prompts: int) -> list[tuple[list[int], int | None]]:
        """Generate calls before the measured window: (prompt indices, max new tokens or None for the row's)."""
        if not warmup_prompts:
            return []
        return [([i % num_prompts for i in range(warmup_prompts)], None)]

    def plan_problem(self, model_class: str | None, gpus: list[int] | None, tensor_parallel: int) -> str | None:
        """Why a planned row cannot be measured under this protocol (None: it can)."""
        return None

    def judge(self, facts: RowFacts) -> list[str] | None:
        """Why a finished row's figure is not comparable with the protocol's reference ([]: it is; None: the
        protocol has no reference to compare with)."""
        return None

    def record(self, settings: dict[str, Any], facts: RowFacts, engine: dict[str, Any]) -> dict[str, Any]:
        """Every parameter the row actually used, for summary.json."""
        return {"name": self.name, "answer_tokens": settings.get("max_new_tokens"),
                "reasoning_max_new_tokens": settings.get("reasoning_max_new_tokens"),
                "batch_size": settings.get("batch_size"), "warmup_prompts": settings.get("warmup_prompts"),
                "prompts": facts.prompts_used, "engine": engine}  # fmt: skip


def with_tokens(mode: ReasoningMode, max_new_tokens: int) -> ReasoningMode:
    """The same mode, generating exactly `max_new_tokens` (warm-up calls)."""
    return replace(mode, max_new_tokens=max_new_tokens, fixed_length=True)


PROTOCOL = Protocol()
