"""Figures derived from measured energy: Wh, per query, per 1,000 queries, per output token, and CO2e.

CO2e is computed only from a grid intensity the user gives (gCO2e/kWh, in the config or --grid-intensity), or
looked up by country through codecarbon when that is installed. There is never a silent default region.
"""

from __future__ import annotations

from typing import Any

from wattbench.errors import WattbenchError

J_PER_WH = 3600.0


def co2e_g(energy_wh: float | None, grid_intensity_g_per_kwh: float | None) -> float | None:
    """Grams CO2e; None unless both the energy and an explicit grid intensity are known."""
    if energy_wh is None or grid_intensity_g_per_kwh is None:
        return None
    if grid_intensity_g_per_kwh < 0:
        raise WattbenchError(f"grid intensity must be >= 0 gCO2e/kWh, got {grid_intensity_g_per_kwh}")
    return energy_wh / 1000.0 * grid_intensity_g_per_kwh


def grid_intensity_for_country(iso_code: str) -> float:
    """gCO2e/kWh of a country's grid, from the energy-mix table codecarbon ships (ISO 3166 alpha-3, e.g. USA)."""
    import json
    from importlib import resources

    try:
        table_file = resources.files("codecarbon").joinpath("data/private_infra/global_energy_mix.json")
        table: dict[str, Any] = json.loads(table_file.read_text(encoding="utf-8"))
    except (ModuleNotFoundError, FileNotFoundError):
        raise WattbenchError(
            f"grid intensity for '{iso_code}' needs codecarbon (pip install codecarbon); "
            "or give --grid-intensity in gCO2e/kWh"
        ) from None
    entry = table.get(iso_code.upper())
    if entry is None or "carbon_intensity" not in entry:
        raise WattbenchError(f"grid intensity: unknown country code '{iso_code}' (use ISO 3166 alpha-3, e.g. USA)")
    return float(entry["carbon_intensity"])
