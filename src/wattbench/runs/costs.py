"""Token prices: a per-model table users can extend (data/prices.toml), overridden by the run config."""

from __future__ import annotations

import tomllib
from importlib import resources

from wattbench.backends.registry import is_priced

GEO_PREFIXES = ("us", "eu", "apac", "global", "us-gov", "ca", "jp", "au")


def price_per_1m(
    provider: str, model: str | None, input_override: float | None, output_override: float | None
) -> tuple[float | None, float | None]:
    """(input, output) USD per 1M tokens; None when unknown (an API model missing from the table)."""
    table = tomllib.loads(resources.files("wattbench.data").joinpath("prices.toml").read_text(encoding="utf-8"))
    models = table.get("models", {})
    key = (model or "").lower()
    entry = models.get(key) or models.get(_without_geo_prefix(key), {})
    local = None if is_priced(provider) else 0.0  # local engines cost nothing per token
    price_in = input_override if input_override is not None else entry.get("input", local)
    price_out = output_override if output_override is not None else entry.get("output", local)
    return price_in, price_out


def _without_geo_prefix(model: str) -> str:
    """A Bedrock cross-region inference profile (`us.meta.llama4-scout-...`) is priced as its model."""
    head, dot, rest = model.partition(".")
    return rest if dot and head in GEO_PREFIXES else model


def cost_usd(input_tokens: int, output_tokens: int, price_in: float | None, price_out: float | None) -> float | None:
    if price_in is None or price_out is None:
        return None
    return (input_tokens * price_in + output_tokens * price_out) / 1e6
