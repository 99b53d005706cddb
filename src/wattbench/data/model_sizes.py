"""Model sizes (parameters, billions) and families: the packaged data/model_sizes.toml, extended by a user file.

A run's own count (`backend.num_parameters`, read from the GGUF or the transformers model) always wins; this
table is for models that do not report one (API models, runs copied in from older tools). Sizes are never
guessed from a model's name: "A3B" or "8x7B" in a name says too little, and a wrong size bends a scaling plot.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from wattbench.errors import DataError

USER_FILE = "model_sizes.toml"
BYTES_PER_PARAM = {"fp32": 4.0, "float32": 4.0, "int8": 1.0, "int4": 0.5, "4bit": 0.5}
"""Weights only; anything else (bf16, fp16, auto) is 2 bytes."""
OVERHEAD = 1.2
"""Weights x 1.2 + 1 GB: activations, KV cache for a short RAG prompt, the CUDA context."""
ENV_VAR = "WATTBENCH_MODEL_SIZES"


@dataclass(frozen=True)
class ModelSize:
    model: str
    params_b: float
    family: str | None = None
    size: str | None = None
    """Nominal size as the family names it ("7" for a 7.62B model): what `--sizes` matches."""


def _entries(text: str, source: str) -> dict[str, ModelSize]:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{source}: not valid TOML ({exc})") from None
    out: dict[str, ModelSize] = {}
    for model, entry in table.get("models", {}).items():
        params = entry.get("params_b") if isinstance(entry, dict) else None
        if not isinstance(params, int | float) or isinstance(params, bool) or params <= 0:
            raise DataError(f'{source}: [models."{model}"] needs params_b = a positive number of billions')
        size = entry.get("size")
        out[model.lower()] = ModelSize(model, float(params), entry.get("family"), None if size is None else str(size))
    return out


def load_sizes(user_file: Path | None = None) -> dict[str, ModelSize]:
    """lower-cased model id → size. The user's file (argument, $WATTBENCH_MODEL_SIZES, ./model_sizes.toml)
    adds to and overrides the packaged table."""
    text = resources.files("wattbench.data").joinpath(USER_FILE).read_text(encoding="utf-8")
    sizes = _entries(text, f"wattbench/data/{USER_FILE}")
    path = user_file or (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else Path(USER_FILE))
    if user_file is not None and not Path(path).exists():
        raise DataError(f"{path}: no such model sizes file")
    if Path(path).is_file():
        sizes.update(_entries(Path(path).read_text(encoding="utf-8"), str(path)))
    return sizes


def params_b_of(model: str | None, backend: dict[str, Any] | None, sizes: dict[str, ModelSize]) -> float | None:
    """Billions of parameters: the engine's own count, else the table (by id, then by the id's last part)."""
    count = (backend or {}).get("num_parameters")
    if isinstance(count, int | float) and count > 0:
        return float(count) / 1e9
    if not model:
        return None
    key = model.lower()
    entry = sizes.get(key) or sizes.get(key.rsplit("/", 1)[-1])
    if entry is None:  # "openai/gpt-4o-mini" listed as "gpt-4o-mini", or the other way round
        entry = next((s for k, s in sizes.items() if k.rsplit("/", 1)[-1] == key.rsplit("/", 1)[-1]), None)
    return entry.params_b if entry else None


def family_members(family: str, sizes: dict[str, ModelSize]) -> list[ModelSize]:
    """A family's models, smallest first."""
    members = [s for s in sizes.values() if (s.family or "").lower() == family.lower()]
    return sorted(members, key=lambda s: s.params_b)


def need_gb(params_b: float, dtype: str) -> float:
    """Memory (GB) a model of `params_b` billion parameters needs to serve: what the scaling study checks
    against free memory and the local executor divides by one GPU's memory."""
    return params_b * BYTES_PER_PARAM.get(dtype.lower(), 2.0) * OVERHEAD + 1.0
