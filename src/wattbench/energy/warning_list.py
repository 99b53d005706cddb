"""A run's or row's window warnings in one list: each distinct warning once, with where it was raised.

A window's warnings (a counter reset seen in it, a window estimated from power, power integrated from too few
readings) stay on the window (a question's record, a prompt's record), and the run's summary and the batch row's
summary gather them here, so none is seen only by whoever opens the right record. The list is bounded: past
LIMIT distinct warnings, one last line says how many more there were.
"""

from __future__ import annotations

from collections.abc import Iterable

LIMIT = 100


def gathered(found: Iterable[tuple[str, Iterable[str]]], limit: int = LIMIT) -> tuple[list[str], int]:
    """(the first `limit` distinct warnings as "where: warning", with a last line for the rest; how many distinct
    warnings there were). `found` pairs a place (a question id, "prompt 3 of pass 1") with its warnings."""
    first_place: dict[str, str] = {}
    for place, warnings in found:
        for warning in warnings:
            first_place.setdefault(warning, place)
    lines = [f"{place}: {warning}" if place else warning for warning, place in first_place.items()]
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more (each record keeps its own)"]
    return lines, len(first_place)
