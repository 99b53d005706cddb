"""CPU package and DRAM energy from the Linux powercap tree (Intel RAPL; AMD through the same driver).

Zones: `intel-rapl:<n>` (or `amd-rapl:<n>`) named `package-<n>` → scope `cpu:package-<n>`; their subzone named
`dram` → scope `dram:<n>`. `core` and `uncore` subzones are parts of the package and are not counted again.
Counters (`energy_uj`) wrap at `max_energy_range_uj`; each poll adds the wrapped difference, and the sampler
polls often enough that at most one wrap falls between two polls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wattbench.energy.base import Verdict

POWERCAP_ROOT = Path("/sys/class/powercap")
READ_ADVICE = (
    "RAPL counters are root-only since the PLATYPUS power side channel (CVE-2020-8694): run as root, read them "
    "through a root-owned helper, or give this Python the CAP_DAC_READ_SEARCH capability; do not make energy_uj "
    "world-readable, which reopens that side channel"
)
_PREFIXES = ("intel-rapl:", "amd-rapl:")


class RaplSource:
    name = "rapl"

    def __init__(self, root: Path = POWERCAP_ROOT) -> None:
        self.root = Path(root)
        self._zones: dict[str, tuple[Path, int | None]] = {}  # scope → (energy_uj path, wrap range in µJ)
        self._unavailable: dict[str, str] = {}
        self._last_uj: dict[str, int] = {}
        self._cumulative: dict[str, float] = {}
        self._warnings: list[str] = []
        self._failures: dict[str, int] = {}
        self._last_failure: dict[str, str] = {}
        self._discover()

    def _discover(self) -> None:
        zones = sorted(p for p in self.root.glob("*") if p.name.startswith(_PREFIXES)) if self.root.is_dir() else []
        for zone in zones:
            name = _read(zone / "name")
            if name is None:
                continue
            package = zone.name.split(":")[1]
            if zone.name.count(":") == 1 and name.startswith("package"):
                scope = f"cpu:{name}"
            elif zone.name.count(":") == 2 and name == "dram":
                scope = f"dram:{package}"
            else:
                continue  # core, uncore (inside the package), psys (the whole platform, overlaps both)
            if scope in self._zones or scope in self._unavailable:
                continue  # an AMD tree may mirror the Intel one
            energy = zone / "energy_uj"
            try:
                self._last_uj[scope] = int(energy.read_text().strip())
            except PermissionError:
                self._unavailable[scope] = f"permission denied reading {energy}; {READ_ADVICE}"
                continue
            except (OSError, ValueError) as exc:
                self._unavailable[scope] = f"cannot read {energy} ({exc})"
                continue
            wrap = _read(zone / "max_energy_range_uj")
            self._zones[scope] = (energy, int(wrap) if wrap and wrap.isdigit() else None)
            self._cumulative[scope] = 0.0
        if not self._zones and not self._unavailable:
            self._unavailable["cpu"] = (
                f"no RAPL zones under {self.root} (not an Intel/AMD CPU with the powercap driver, or a VM)"
            )

    def scopes(self) -> list[str]:
        return list(self._cumulative)

    def unavailable(self) -> dict[str, str]:
        return dict(self._unavailable)

    def methods(self) -> dict[str, str]:
        return {scope: "rapl" for scope in self._zones}

    def warnings(self) -> list[str]:
        drained, self._warnings = self._warnings, []
        return drained

    def poll(self, now_s: float) -> None:
        for scope, (path, wrap) in self._zones.items():
            try:
                current = int(path.read_text().strip())
            except (OSError, ValueError) as exc:  # the window this falls in reports the scope as unknown
                self._failures[scope] = self._failures.get(scope, 0) + 1
                self._last_failure[scope] = f"cannot read {path} ({exc})"
                continue
            delta = current - self._last_uj[scope]
            if delta < 0:
                if wrap is None:
                    self._warnings.append(f"{scope}: counter went back and max_energy_range_uj is unknown; skipped")
                    delta = 0
                else:
                    delta += wrap
            self._last_uj[scope] = current
            self._cumulative[scope] += delta / 1e6

    def cumulative_j(self) -> dict[str, float]:
        return dict(self._cumulative)

    def snapshot(self) -> dict[str, int]:
        return dict(self._failures)

    def judge(self, before: dict[str, int], after: dict[str, int], duration_s: float) -> Verdict:
        verdict = Verdict()
        for scope, failures in after.items():
            if failures > before.get(scope, 0):
                verdict.unavailable[scope] = f"read failed in this window: {self._last_failure[scope]}"
        return verdict


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def open_source(context: Any) -> RaplSource:
    """The meter registry's entry (energy/meters.py): every RAPL zone under `context.powercap_root`. A machine
    without them still gets the source, whose `unavailable()` says why, so `auto` records the reason."""
    return RaplSource(context.powercap_root)
