"""A third-party energy source as a plugin would write one: a 'wall meter' whose power follows a script over real
time (monotonic seconds), registered in energy/meters.SOURCES by a test. Not a double of our code: it stands in
for a device we do not have, the way the fake NVML and powercap tree do."""

from __future__ import annotations

import time
from typing import Any

WATTS = 40.0
"""Constant power of the scripted wall socket."""


class WallSource:
    name = "wall"

    def __init__(self) -> None:
        self._opened_s = time.monotonic()
        self._joules = 0.0
        self._last_s = self._opened_s

    def scopes(self) -> list[str]:
        return ["wall:0"]

    def unavailable(self) -> dict[str, str]:
        return {}

    def methods(self) -> dict[str, str]:
        return {"wall:0": "scripted_wall_meter"}

    def poll(self, now_s: float) -> None:
        now = time.monotonic()
        self._joules += WATTS * (now - self._last_s)
        self._last_s = now

    def cumulative_j(self) -> dict[str, float]:
        return {"wall:0": self._joules}

    def warnings(self) -> list[str]:
        return []


def open_source(context: Any) -> WallSource:
    return WallSource()
