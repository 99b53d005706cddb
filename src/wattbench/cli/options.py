"""Options several commands share: the data dir, and the executor that carries out their runs.

Every option defaults to None, "not given": the value then comes from the command's `--config` file, else from the
default written once in the config models (wattbench.config)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel

DATA_DIR = typer.Option(None, "--data-dir", help="Data dir (default: $WATTBENCH_DATA, then ./data).")

EXECUTOR = typer.Option(
    None, "--executor", help="inline (default: one run at a time), local (packed onto GPU or CPU slots) or ray."
)
GPUS = typer.Option(None, "--gpus", help="local: only these GPUs (0,1).")
SLOTS = typer.Option(None, "--slots", help="local: run on N CPU slots (default when no GPU is visible: 1).")
RAY_ADDRESS = typer.Option(
    None, "--ray-address", help="ray: the cluster (default: $RAY_ADDRESS, else a local Ray for this call)."
)
TIMEOUT_MIN = typer.Option(None, "--timeout-min", help="Per-run wall-clock limit in minutes (local, ray).")
METER_URL = typer.Option(
    None, "--meter-url", help="A meter agent on the server's host (wattbench meter serve): its GPUs' energy."
)
CAMPAIGN_CONFIG = typer.Option(None, "--config", help="TOML/YAML file of this command's settings; flags override.")
ENGINE_GPUS = typer.Option(
    None, "--gpus", help="The GPUs (NVML indices, 0,1) the engine runs on and the meter measures (generation.gpus)."
)


def gpu_list(text: str | None, flag: str = "--gpus") -> list[int] | None:
    """A comma-separated list of NVML indices ("0,1"); None when not given. Bad text is one line naming the flag."""
    from wattbench.errors import ConfigError

    if text is None:
        return None
    try:
        indices = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        indices = []
    if not indices or any(i < 0 for i in indices):
        raise ConfigError(f"{flag} {text!r}: give NVML indices separated by commas, e.g. 0,1")
    return indices


def executor_overrides(
    executor: str | None, gpus: str | None, slots: int | None, ray_address: str | None, timeout_min: float | None,
    data_dir: Path | None,
) -> dict[str, Any]:  # fmt: skip
    """The shared flags as dotted settings paths (None: not given)."""
    return {
        "executor.name": executor,
        "executor.gpus": gpus,
        "executor.slots": slots,
        "executor.ray_address": ray_address,
        "executor.timeout_min": timeout_min,
        "data_dir": str(data_dir) if data_dir else None,
    }


def as_text(path: Path | None) -> str | None:
    """A path flag as the settings' text (None stays "not given")."""
    return str(path) if path is not None else None


def setting_option(model: type[BaseModel], path: str, flags: dict[str, str]) -> Any:
    """The option of the setting at dotted `path` of `model`: its flag from `flags` (written once, beside the
    model), its help the field's own docstring and default (config/reference.py), so neither is restated here."""
    from wattbench.config.reference import setting_help

    return typer.Option(None, flags[path], help=setting_help(model, path))


def flag_values(flags: dict[str, str], given: dict[str, Any]) -> dict[str, Any]:
    """Dotted setting path → the value of its flag, from the command's parameters (`given`, named as the flag
    without its dashes); paths as text, and None ("not given") as it is."""
    out = {}
    for path, flag in flags.items():
        value = given[flag.removeprefix("--").replace("-", "_")]
        out[path] = str(value) if isinstance(value, Path) else value
    return out
