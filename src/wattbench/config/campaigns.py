"""Settings of the commands that run many runs: where they execute (`ExecutorConfig`), `benchmark`, `scaling` and
`ensemble`. A campaign file (TOML or YAML) holds the same fields as the command's flags; a flag given on the
command line overrides the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wattbench.config.files import load_settings


def _gpu_list(value: Any) -> Any:
    """`--gpus 0,1` arrives as text; a file gives a list (or one index)."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not all(part.isdigit() for part in parts):
            raise ValueError(f"'{value}': give NVML indices separated by commas (0,1)")
        return [int(part) for part in parts]
    if isinstance(value, int):
        return [value]
    return value


class ExecutorConfig(BaseModel):
    """Where a campaign's runs execute, and how long each may take."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = "inline"
    """inline (one run after another, each in its own process on this machine), local (side by side, packed onto
    GPU or CPU slots) or ray (a Ray cluster's nodes). Every command means the same by each name."""
    gpus: list[int] | None = None
    """local: only these GPUs (NVML indices); None: every visible GPU."""
    slots: int | None = Field(None, ge=1)
    """local: run on this many CPU slots; None: one per GPU, or 1 when no GPU is visible."""
    ray_address: str | None = None
    """ray: the cluster; None: $RAY_ADDRESS, else a local Ray for this call."""
    timeout_min: float = Field(60.0, gt=0)
    """Per-run wall-clock limit in minutes: every executor kills the run's process group at it."""

    _gpus = field_validator("gpus", mode="before")(_gpu_list)

    @property
    def timeout_s(self) -> float:
        """The per-run limit in seconds."""
        return self.timeout_min * 60


# The flags every campaign command shares → their paths in the campaign's settings.
EXECUTOR_FLAGS: dict[str, str] = {
    "executor.name": "--executor",
    "executor.gpus": "--gpus",
    "executor.slots": "--slots",
    "executor.ray_address": "--ray-address",
    "executor.timeout_min": "--timeout-min",
    "data_dir": "--data-dir",
}


class CampaignConfig(BaseModel):
    """What every campaign has: an executor and a data dir."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    data_dir: str | None = None
    """Data dir; None: $WATTBENCH_DATA, then ./data."""


class BenchmarkConfig(CampaignConfig):
    """`wattbench benchmark`: every run config of a folder, each as its own run."""

    configs: str = "configs"
    """Folder of run configs (TOML, YAML, seed .py)."""
    providers: list[str] | None = None
    """Only configs of these providers; None: all."""
    models: list[str] | None = None
    """Only configs whose file name, run name or model contains one of these keys; None: all."""
    smoke_test: bool = False
    """One question per model, as <name>-smoke."""
    force: bool = False
    """Redo complete runs."""
    log_dir: str = "artifacts/benchmark"
    """Per-config logs and the benchmark summary."""
    executor: ExecutorConfig = Field(default_factory=lambda: ExecutorConfig(timeout_min=30.0))


BENCHMARK_FLAGS: dict[str, str] = {
    **EXECUTOR_FLAGS,
    "configs": "--configs",
    "providers": "--provider",
    "models": "--model",
    "smoke_test": "--smoke-test",
    "force": "--force",
    "log_dir": "--log-dir",
}


class ScalingConfig(CampaignConfig):
    """`wattbench scaling`: one model family by size, one size at a time on a freed GPU."""

    family: str
    """Model family as model_sizes.toml names it (qwen2.5)."""
    sizes: list[str] | None = None
    """Nominal sizes (1.5, 3, 7); None: every size of the family."""
    configs: str = "configs"
    """Folder of run configs to take each size's settings from."""
    provider: str | None = None
    """Use configs of this provider (hf, vllm, ...); None: any."""
    skip_existing: bool = False
    """Reuse complete runs instead of rerunning them."""
    out: str = "artifacts/scaling"
    """Logs and scaling_comparison.csv / .json."""
    model_sizes: str | None = None
    """An extra model_sizes.toml, added to the packaged table."""

    @field_validator("sizes", mode="before")
    @classmethod
    def _sizes_as_text(cls, value: Any) -> Any:
        # A file may write sizes as numbers (1.5, 7); the size table's keys are text.
        if isinstance(value, list):
            return [f"{item:g}" if isinstance(item, float | int) else item for item in value]
        return value


SCALING_FLAGS: dict[str, str] = {
    **EXECUTOR_FLAGS,
    "family": "--family",
    "sizes": "--sizes",
    "configs": "--configs",
    "provider": "--provider",
    "skip_existing": "--skip-existing",
    "out": "--out",
    "model_sizes": "--model-sizes",
}


class EnsembleConfig(CampaignConfig):
    """`wattbench ensemble`: existing runs combined, or run configs run as members and then combined."""

    name: str
    """Name of the ensemble's run dir."""
    experiments: list[str] | None = None
    """Existing runs to combine (names under experiments_dir, or run dirs)."""
    members: list[str] | None = None
    """Run configs to run as members: one config runs `num_runs` times with seeds 0..N-1, several run once each."""
    num_runs: int | None = Field(None, ge=1)
    """Same-model ensemble size; None: 5. Only with one member config."""
    temperature: float | None = Field(None, ge=0)
    """Same-model ensemble sampling temperature; None: the config's, or `seeded_temperature` when it is 0."""
    seeded_temperature: float = Field(0.7, gt=0)
    """The temperature same-model members sample at when their config is greedy (greedy members would agree)."""
    strategy: Literal["majority", "first_non_blank", "confidence"] = "majority"
    """How the members' answers are combined."""
    ignore_blank: bool = False
    """Blank votes count only if no member answered."""
    calibration: str | None = None
    """Questions with answers that weigh the members (confidence strategy)."""
    solution: str | None = None
    """Score against this CSV; None: the members' questions, else the train questions."""
    limit: int | None = Field(None, ge=1)
    """With member configs: only the first N questions."""
    force: bool = False
    """Overwrite an existing run dir of that name."""
    log_dir: str | None = None
    """Member logs; None: ensembles/NAME beside the run dirs' folder."""
    experiments_dir: str = "artifacts/experiments"
    """Where existing run dirs are looked up."""

    @property
    def same_model_runs(self) -> int:
        """Members of a same-model ensemble (one config, several seeds)."""
        return self.num_runs or 5


ENSEMBLE_FLAGS: dict[str, str] = {
    **EXECUTOR_FLAGS,
    "name": "--name",
    "experiments": "--experiments",
    "members": "--config",
    "num_runs": "--num-runs",
    "temperature": "--temperature",
    "strategy": "--strategy",
    "ignore_blank": "--ignore-blank",
    "calibration": "--calibration",
    "solution": "--solution",
    "limit": "--limit",
    "force": "--force",
    "log_dir": "--log-dir",
    "experiments_dir": "--experiments-dir",
}


def load_benchmark_config(path: Path | None, overrides: dict[str, Any]) -> BenchmarkConfig:
    """A benchmark campaign from a file (or the defaults) and the command line."""
    return load_settings(BenchmarkConfig, path, overrides, BENCHMARK_FLAGS)


def load_scaling_config(path: Path | None, overrides: dict[str, Any]) -> ScalingConfig:
    """A scaling campaign from a file (or the defaults) and the command line; `family` must come from one."""
    return load_settings(ScalingConfig, path, overrides, SCALING_FLAGS)


def load_ensemble_config(path: Path | None, overrides: dict[str, Any]) -> EnsembleConfig:
    """An ensemble campaign from a file (or the defaults) and the command line; `name` must come from one."""
    return load_settings(EnsembleConfig, path, overrides, ENSEMBLE_FLAGS)
