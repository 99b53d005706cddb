"""A batch's prompt set, and the record of where each row's prompts came from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from wattbench.config import BatchConfig
from wattbench.data.models_csv import ModelSpec
from wattbench.data.paths import resolve_data_dir
from wattbench.data.prompts import load_prompts
from wattbench.errors import DataError
from wattbench.protocols import get_protocol


def energy_score_file(config: BatchConfig, name: str) -> Path:
    return resolve_data_dir(Path(config.data_dir) if config.data_dir else None) / "energy_score" / name


def _data_dir_if_any(config: BatchConfig) -> Path | None:
    try:
        return resolve_data_dir(Path(config.data_dir) if config.data_dir else None)
    except DataError:
        return None  # the protocol's dataset may still be in a Hugging Face cache


def batch_prompts(config: BatchConfig) -> list[str]:
    """The prompt set: the config's file or dataset, else the data dir's energy_score/prompts.csv; with protocol
    aienergyscore, the first `num_prompts` (1,000) rows of EnergyStarAI/text_generation."""
    if get_protocol(config.protocol).measures_official_dataset:
        from wattbench.data.energystar import load_dataset

        return load_dataset(config.prompts_file, _data_dir_if_any(config), config.num_prompts)[1]
    source = config.prompts_file or str(energy_score_file(config, "prompts.csv"))
    return load_prompts(source, config.prompt_column, config.num_prompts)


def limit_prompts(config: BatchConfig, prompts: list[str]) -> list[str]:
    """The measured prompts: the first `num_prompts` of the set (all of them when it is None)."""
    return prompts[: config.num_prompts] if config.num_prompts else prompts


def prompt_shortfall(config: BatchConfig, prompts: list[str]) -> str | None:
    """A warning when the set holds fewer prompts than --num-prompts asked for (the run uses what there is)."""
    if config.num_prompts and len(prompts) < config.num_prompts:
        source = config.prompts_file or "the prompt set"
        return (f"--num-prompts {config.num_prompts}, but {source} holds {len(prompts)} prompts; running "
                f"{len(prompts)}, and the rows' figures are over {len(prompts)}")  # fmt: skip
    return None


def dataset_record(config: BatchConfig, used: int) -> dict[str, Any]:
    """What a row's prompts were: the protocol's dataset (file, sha256, rows) or the prompt source."""
    if get_protocol(config.protocol).measures_official_dataset:
        from wattbench.data.energystar import load_dataset

        dataset, _ = load_dataset(config.prompts_file, _data_dir_if_any(config), used)
        return dataset.describe(used)
    return {"source": config.prompts_file or str(energy_score_file(config, "prompts.csv")), "prompts_used": used}


def under_protocol(specs: list[ModelSpec], config: BatchConfig) -> list[ModelSpec]:
    """Each row in the mode its protocol runs it in (aienergyscore: non-reasoning rows without a chat template)."""
    protocol = get_protocol(config.protocol)
    return [replace(s, mode=protocol.adapt_mode(s.mode)) if s.mode else s for s in specs]
