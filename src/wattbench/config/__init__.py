"""Typed configuration (pydantic at the edge) and loading it from TOML, YAML or a seed `.py` file.

Every field carries a docstring and every default is written once, here; a bad value is a one-line error that
names the file and the field path, or the command-line flag it came from. One module per kind of settings:
`sections` (the tables of a run), `experiment` (a WattBot run), `batch` (a models-CSV batch), `campaigns`
(benchmark, scaling, ensemble and the executor they share), `files` (reading and error messages), `seed` (the
seed project's .py configs).
"""

from __future__ import annotations

from wattbench.config.batch import BATCH_FLAGS, BatchConfig, load_batch_config
from wattbench.config.campaigns import (
    BenchmarkConfig,
    EnsembleConfig,
    ExecutorConfig,
    ScalingConfig,
    load_benchmark_config,
    load_ensemble_config,
    load_scaling_config,
)
from wattbench.config.experiment import ExperimentConfig, load_experiment_config, load_retrieval_config
from wattbench.config.files import load_settings, read_config_file, validation_message
from wattbench.config.sections import BedrockConfig, EnergyConfig, GenerationConfig, RetrievalConfig, TaskConfig
from wattbench.config.seed import SEED_KEYS, read_seed_python_config
from wattbench.errors import ConfigError

__all__ = [
    "BATCH_FLAGS",
    "SEED_KEYS",
    "BatchConfig",
    "BenchmarkConfig",
    "ConfigError",
    "EnergyConfig",
    "EnsembleConfig",
    "ExecutorConfig",
    "ExperimentConfig",
    "GenerationConfig",
    "BedrockConfig",
    "RetrievalConfig",
    "ScalingConfig",
    "TaskConfig",
    "load_batch_config",
    "load_benchmark_config",
    "load_ensemble_config",
    "load_experiment_config",
    "load_retrieval_config",
    "load_scaling_config",
    "load_settings",
    "read_config_file",
    "read_seed_python_config",
    "validation_message",
]
