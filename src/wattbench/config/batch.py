"""One `wattbench batch`'s settings (`BatchConfig`) and their flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wattbench.backends.registry import DEFAULT_ENGINE
from wattbench.config.campaigns import EXECUTOR_FLAGS, ExecutorConfig
from wattbench.config.files import load_settings
from wattbench.config.sections import EnergyConfig, EngineSettings
from wattbench.protocols import DEFAULT as DEFAULT_PROTOCOL
from wattbench.protocols import get_protocol

BATCH_GENERATION_DEFAULTS: dict[str, Any] = {"n_ctx": 8192, "request_timeout_s": 600.0}
"""Where a batch's engine settings differ from a run's (EngineSettings says why, under each field)."""

NOT_IN_A_BATCH = {
    "max_tokens": "a batch's output lengths are max_new_tokens and reasoning_max_new_tokens",
    "temperature": "a batch decodes greedily",
    "constrained": "a batch's answers are free text",
    "json_mode": "a batch's answers are free text",
    "max_concurrent": "set batch_size (prompts per generate call, sent concurrently to a server)",
    "base_url": "set endpoint (the URL of a running OpenAI-compatible server)",
}
"""A run's generation settings that a batch sets otherwise: refused in a batch's `[generation]`, with what to set."""


class BatchConfig(BaseModel):
    """One `wattbench batch`: every selected row of a models CSV on a text-generation prompt set."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    protocol: str = DEFAULT_PROTOCOL
    """wattbench (default: fixed-length answers on any prompt set, for per-token comparisons) or aienergyscore
    (the official AI Energy Score method, comparable with the published board; protocols/aienergyscore.py)."""
    models_csv: str | None = None
    """Models CSV; None: energy_score/oct_2025_models.csv in the data dir."""
    prompts_file: str | None = None
    """Prompts: CSV (with or without a header), JSONL, parquet, or a Hugging Face dataset id; None: the data
    dir's energy_score/prompts.csv. With protocol aienergyscore: the EnergyStarAI/text_generation parquet/JSONL,
    or a folder or Hugging Face cache holding it; None: the Hugging Face caches, then the data dir."""
    prompt_column: str | None = None
    """Column (or JSONL field) holding the prompt; None: the first known name, or the only column."""
    num_prompts: int | None = Field(None, ge=1)
    """Measured prompts per run; None: all."""
    warmup_prompts: int = Field(5, ge=0)
    """Prompts generated before the measured window (not counted, not metered)."""
    repeats: int = Field(1, ge=1)
    """Measured passes over the prompts, each metered on its own; with 2 or more, the row gives each figure's mean,
    standard deviation, coefficient of variation and 95% t interval across passes."""
    repeat_until: float | None = Field(None, gt=0, lt=1)
    """Keep adding passes (after `repeats`) until the 95% interval of the energy per prompt is within this
    fraction of its mean on each side (0.02: ±2%), or `max_repeats` passes; the row records which. None: exactly
    `repeats` passes."""
    max_repeats: int = Field(10, ge=2)
    """With repeat_until: the most passes before giving up."""
    max_new_tokens: int = Field(256, ge=1)
    """Output length of non-reasoning runs (generated exactly: min = max new tokens)."""
    reasoning_max_new_tokens: int = Field(4096, ge=1)
    """Output cap of runs expected to reason (they stop when the model does)."""
    backend: str = DEFAULT_ENGINE
    """The engine: llamacpp, hf (pytorch), vllm (managed, or a running server with `endpoint`), openai, bedrock,
    or one another package registers."""
    endpoint: str | None = None
    """URL of a running OpenAI-compatible server (vLLM); its /v1 is added when missing."""
    gguf_dir: str | None = None
    """llamacpp: a folder of .gguf files, matched to each model by name."""
    batch_size: int = Field(1, ge=1)
    """Prompts per generate call (hf batches them; servers run them concurrently)."""
    output_dir: str = "batch_results"
    """Where master_results.csv, individual_runs/ and logs/ go."""
    max_consecutive_failures: int = Field(3, ge=1)
    """A run stops after this many failed prompts in a row (a dead server), recording the rest as not run."""
    generation: EngineSettings = Field(default_factory=lambda: EngineSettings(**BATCH_GENERATION_DEFAULTS))
    """How the engine runs each model: the same settings as a run's `[generation]` (seed, n_ctx, dtype, gpus,
    tensor_parallel, the server timeouts...), with a batch's own defaults where it needs them (shown in the table
    of this section). Written at the top level (`n_ctx = ...`), as earlier releases did, they still work."""
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    """Where the rows run, each in its own process with `executor.timeout_min` as its limit: inline (default, one
    after another), local (side by side on GPU or CPU slots) or ray."""
    data_dir: str | None = None
    """Data dir for the default models CSV and prompts; None: $WATTBENCH_DATA, then ./data."""
    workload: Literal["textgen", "wattbot"] = "textgen"
    """What each row does: textgen (the prompt set, the Energy Score way) or wattbot (the WattBot questions with
    retrieval, each row a WattBot run in its reasoning state; campaigns/batch_wattbot.py)."""
    questions: str | None = None
    """workload wattbot: the question CSV; None: the run config's, else the train questions of the data dir."""
    run_config: str | None = None
    """workload wattbot: a run config (TOML/YAML) whose task, retrieval and generation settings every row starts
    from; the row sets its engine, model, reasoning state, name and run dir. None: the defaults."""

    @model_validator(mode="before")
    @classmethod
    def _generation_section(cls, data: Any) -> Any:
        """The engine settings into `generation`, over the batch's defaults; the old top-level spelling moved in."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        given = data.get("generation") or {}
        section = dict(given.model_dump(exclude_unset=True) if isinstance(given, BaseModel) else given)
        for key in set(EngineSettings.model_fields) & set(data):
            if key in section:
                raise ValueError(f"{key} and generation.{key} are both set: keep generation.{key} ({key} at the top "
                                 "level is the earlier spelling of the same setting)")  # fmt: skip
            section[key] = data.pop(key)
        for key, instead in NOT_IN_A_BATCH.items():
            if key in section:
                raise ValueError(f"generation.{key} does not apply to a batch: {instead}")
        data["generation"] = {**BATCH_GENERATION_DEFAULTS, **section}
        return data

    @model_validator(mode="after")
    def _workload_inputs(self) -> BatchConfig:
        if self.workload == "wattbot" and self.prompts_file:
            raise ValueError("prompts_file is the textgen workload's input; a wattbot batch answers the WattBot "
                             "questions (questions / --questions FILE)")  # fmt: skip
        if self.workload == "textgen" and (self.questions or self.run_config):
            raise ValueError("questions and run_config are the wattbot workload's; add --workload wattbot or drop them")
        return self

    @model_validator(mode="after")
    def _inline_gpus(self) -> BatchConfig:
        """`--gpus` one row after another (inline): the GPUs the engine runs on and the meter measures, as on
        `run` and `load` (energy/devices.py asks for it for a server on this machine). With `local`, each row
        gets its slot's GPUs instead."""
        if self.executor.name == "inline" and self.executor.gpus and self.generation.gpus is None:
            object.__setattr__(self, "generation", self.generation.model_copy(update={"gpus": self.executor.gpus}))
        return self

    @model_validator(mode="after")
    def _apply_protocol(self) -> BatchConfig:
        """The protocol's fixed settings replace the defaults; a setting given against it is refused (one line)."""
        protocol = get_protocol(self.protocol)
        given = set(self.model_fields_set) | ({"energy_meter"} if "meter" in self.energy.model_fields_set else set())
        values = {**self.__dict__, "energy_meter": self.energy.meter}
        for name, value in protocol.settle(values, given).items():
            object.__setattr__(self, name, value)  # not setattr: that would validate (and recurse) again
        return self


# `wattbench batch` flags → BatchConfig paths (flags that set nested energy settings name them dotted).
BATCH_FLAGS: dict[str, str] = {
    "protocol": "--protocol",
    "models_csv": "--models-csv",
    "prompts_file": "--prompts-file",
    "workload": "--workload",
    "questions": "--questions",
    "run_config": "--run-config",
    "prompt_column": "--prompt-column",
    "num_prompts": "--num-prompts",
    "warmup_prompts": "--warmup",
    "repeats": "--repeats",
    "repeat_until": "--repeat-until",
    "max_repeats": "--max-repeats",
    "max_new_tokens": "--max-new-tokens",
    "reasoning_max_new_tokens": "--reasoning-max-new-tokens",
    "backend": "--backend",
    "endpoint": "--endpoint",
    "gguf_dir": "--gguf-dir",
    "batch_size": "--batch-size",
    "output_dir": "--output-dir",
    "energy.meter": "--meter",
    "energy.idle_seconds": "--idle-seconds",
    "energy.meter_url": "--meter-url",
    "energy.grid_intensity_g_per_kwh": "--grid-intensity",
    **EXECUTOR_FLAGS,
}


def load_batch_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> BatchConfig:
    """A batch config from a TOML or YAML file (the keys of BatchConfig; `[energy]` and `[executor]` as tables) or
    the defaults, then the command line's dotted overrides (a flag not given is None and changes nothing)."""
    return load_settings(BatchConfig, path, overrides, BATCH_FLAGS)
