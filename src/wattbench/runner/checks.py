"""What can be checked in a run's config before anything is written: the backend, its model, the meter.

Each failure is one line naming the config file and the field (or the command-line flag) it came from, raised
before the run dir exists, so a bad config never leaves a run dir holding only a run.log.
"""

from __future__ import annotations

from urllib.parse import urlparse

from wattbench.backends.registry import NEEDS_MODEL, resolve_backend
from wattbench.config import ConfigError, ExperimentConfig
from wattbench.energy.base import Meter
from wattbench.energy.meters import make_meter
from wattbench.errors import WattbenchError

HF_DTYPES = ("auto", "bf16", "fp16", "fp32")


def check_run_config(config: ExperimentConfig) -> str:
    """The backend's registry name, once the settings that would fail after loading are known to be right."""
    try:
        backend = resolve_backend(config.provider)
    except WattbenchError as exc:
        raise ConfigError(f"{config.where('provider')}: {exc}") from None
    if backend in NEEDS_MODEL and not config.model:
        raise ConfigError(f'{config.where("model")}: the {backend} backend needs a model id; set model = "..."')
    if backend == "hf" and config.generation.dtype not in HF_DTYPES:
        raise ConfigError(
            f"{config.where('generation.dtype')}: unknown dtype '{config.generation.dtype}'; "
            f"use one of: {', '.join(HF_DTYPES)}"
        )
    url = config.generation.base_url
    if url is not None and (urlparse(url).scheme not in ("http", "https") or not urlparse(url).hostname):
        where = config.where("generation.base_url")
        raise ConfigError(f"{where}: '{url}' is not an http(s) URL like http://host:8000/v1")
    return backend


def open_meter(config: ExperimentConfig) -> Meter:
    """The run's meter; a meter the machine cannot provide (meter = "nvml" without NVML) is a config error."""
    try:
        # A managed server runs on the GPUs the config gives it: measure exactly those.
        return make_meter(config.energy.meter, sampler_hz=config.energy.sampler_hz, gpu_indices=config.generation.gpus)
    except WattbenchError as exc:
        raise ConfigError(f"{config.where('energy.meter')}: {str(exc).removeprefix('meter = ')}") from None
