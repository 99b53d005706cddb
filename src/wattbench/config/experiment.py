"""One WattBot run's settings (`ExperimentConfig`) and loading them from TOML, YAML or a seed `.py` file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from wattbench.backends.registry import DEFAULT_ENGINE
from wattbench.config.files import read_config_file, set_dotted, validation_message
from wattbench.config.sections import BedrockConfig, EnergyConfig, GenerationConfig, RetrievalConfig, TaskConfig
from wattbench.config.seed import read_seed_python_config
from wattbench.errors import ConfigError
from wattbench.names import name_problem
from wattbench.urls import restore_secrets


def _valid_name(value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class ExperimentConfig(BaseModel):
    """One WattBot run."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    _source: str | None = PrivateAttr(None)
    """The config file the settings came from (None: no file, defaults and flags only)."""
    _flags: dict[str, str] = PrivateAttr(default_factory=dict)
    """Dotted path → the command-line flag that can set it; `_given`: the ones given this time."""
    _given: set[str] = PrivateAttr(default_factory=set)

    name: str = "smollm2-llamacpp"
    """Run name: the run dir is <output_dir>/<name>."""
    provider: str = DEFAULT_ENGINE
    """Backend name (llamacpp, ...)."""
    model: str | None = None
    """Model id or path; None: the backend's default (SmolLM2-135M-Instruct for llamacpp)."""
    questions: str | None = None
    """Question CSV; None: the train questions of the data dir."""
    limit: int | None = Field(None, ge=1)
    """Only the first N questions."""
    output_dir: str = "artifacts/experiments"
    """Where run dirs are written."""
    price_input_per_1m: float | None = Field(None, ge=0)
    """USD per 1M input tokens; None: from the price table (local engines cost 0)."""
    price_output_per_1m: float | None = Field(None, ge=0)
    """USD per 1M output tokens; None: from the price table."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    bedrock: BedrockConfig = Field(default_factory=BedrockConfig)

    _check_name = field_validator("name")(_valid_name)

    @model_validator(mode="after")
    def _share_bedrock(self) -> ExperimentConfig:
        if self.bedrock != BedrockConfig():  # one [bedrock] section serves the model and a Titan embedder
            self.retrieval._bedrock = self.bedrock
        return self

    def origin(self) -> str:
        """The config file the settings came from, for messages ("config" when there is none)."""
        return self._source or "config"

    def where(self, dotted: str) -> str:
        """Who set the setting `dotted`, for an error message: its command-line flag, else the config file and
        the field (`configs/x.toml: generation.base_url`)."""
        if dotted in self._given or (self._source is None and dotted in self._flags):
            return self._flags[dotted]
        return f"{self._source or 'config'}: {dotted}"


def load_retrieval_config(
    path: Path | None = None, overrides: dict[str, Any] | None = None, flags: dict[str, str] | None = None
) -> RetrievalConfig:
    """Retrieval settings from the `[retrieval]` table of a config file (or defaults), then `overrides`
    (`flags`: the command-line flag of each, named in errors)."""
    data: dict[str, Any] = {}
    source = "command line"  # no file: a bad value can only have come from a flag
    bedrock: dict[str, Any] = {}
    if path is not None:
        source = str(path)
        whole = read_config_file(path)
        data, bedrock = dict(whole.get("retrieval", {}) or {}), dict(whole.get("bedrock", {}) or {})
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        config = RetrievalConfig(**data)
        if bedrock:
            config._bedrock = BedrockConfig(**bedrock)
        return config
    except ValidationError as exc:
        named = {f"retrieval.{k}": v for k, v in (flags or {}).items() if (overrides or {}).get(k) is not None}
        raise ConfigError(validation_message(source, exc, "retrieval", named)) from None


def load_experiment_config(
    path: Path | None = None, overrides: dict[str, Any] | None = None, flags: dict[str, str] | None = None
) -> tuple[ExperimentConfig, list[str]]:
    """Load a TOML, YAML or seed .py config (or the defaults), apply dotted-path overrides, validate.
    `flags` names the command-line flag of each override, so an error about one names the flag."""
    data: dict[str, Any] = {}
    warnings: list[str] = []
    source = "command line"  # no file: a bad value can only have come from a flag
    if path is not None:
        source = str(path)
        if Path(path).suffix == ".py":
            data, warnings = read_seed_python_config(Path(path))
        else:
            data = restore_secrets(read_config_file(Path(path)))  # a campaign's job file: its URLs' credentials
        # A config that does not name its run (the seed's .py configs never do) runs under its file's stem.
        data.setdefault("name", Path(path).stem)
    given_paths = set_dotted(data, overrides)
    given = {k: v for k, v in (flags or {}).items() if k in given_paths}
    try:
        config = ExperimentConfig(**data)
    except ValidationError as exc:
        message = validation_message(source, exc, flags=given)
        if exc.errors()[0]["loc"] == ("name",) and "name" not in given and path is not None:
            message += '; a config without `name` runs under its file\'s name: set name = "..."'
        raise ConfigError(message) from None
    config._source = str(path) if path is not None else None
    config._flags, config._given = dict(flags or {}), set(given)
    return config, warnings
