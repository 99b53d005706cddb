"""What can be checked in a run's config before anything is written: the backend, its model, the meter.

Each failure is one line naming the config file and the field (or the command-line flag) it came from, raised
before the run dir exists, so a bad config never leaves a run dir holding only a run.log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from wattbench.backends.base import options_of
from wattbench.backends.registry import backend_class, resolve_backend
from wattbench.config import ConfigError, ExperimentConfig, load_experiment_config
from wattbench.energy.base import Meter
from wattbench.energy.meters import check_meter
from wattbench.errors import WattbenchError
from wattbench.runs.lifecycle import open_meter as lifecycle_meter


def load_run_config(
    path: Path | None = None, overrides: dict[str, Any] | None = None, flags: dict[str, str] | None = None
) -> tuple[ExperimentConfig, list[str]]:
    """A run config loaded and checked: its provider resolved (an unknown one fails here, at load, with the near
    miss), its engine options valid. Every command that runs WattBot runs loads configs through this."""
    config, warnings = load_experiment_config(path, overrides, flags)
    check_run_config(config)
    return config, warnings


def check_run_config(config: ExperimentConfig) -> str:
    """The backend's registry name, once the settings that would fail after loading are known to be right."""
    try:
        backend = resolve_backend(config.provider)
    except WattbenchError as exc:
        raise ConfigError(f"{config.where('provider')}: {exc}") from None
    try:
        check_meter(config.energy.meter)
    except WattbenchError as exc:
        raise ConfigError(f"{config.where('energy.meter')}: {exc}") from None
    engine = backend_class(backend)
    if engine.needs_model and not config.model:
        raise ConfigError(f'{config.where("model")}: the {backend} backend needs a model id; set model = "..."')
    try:
        # The engine's own options model checks the values it takes (a dtype, say) without loading anything.
        options_of(backend, engine.Options, None, engine.run_options(config))
    except WattbenchError as exc:
        raise ConfigError(f"{config.origin()}: {exc}") from None
    url = config.generation.base_url
    if url is not None and (urlparse(url).scheme not in ("http", "https") or not urlparse(url).hostname):
        where = config.where("generation.base_url")
        raise ConfigError(f"{where}: '{url}' is not an http(s) URL like http://host:8000/v1")
    return backend


def open_meter(config: ExperimentConfig) -> Meter:
    """The run's meter; a meter the machine cannot provide (meter = "nvml" without NVML) is a config error."""
    try:
        return lifecycle_meter(config.energy, config.generation.gpus)
    except WattbenchError as exc:
        raise ConfigError(f"{config.where('energy.meter')}: {str(exc).removeprefix('meter = ')}") from None
