"""When a run rewrites the files it derives from its records (summary.json, submission.csv, results.json).

Each record is appended to results.jsonl and forced to disk as it finishes: that is what a crash keeps and what a
resume reads. The derived files are rebuilt from all the records, which costs time in proportion to the records
so far; rebuilding them after every question made a long run quadratic. A checkpoint is taken after the first
record, then once `min_interval_s` has passed and the time since the last one is at least `1 / max_share` times
what the last one cost, so the rebuilds never take more than `max_share` of the run's time however long it is,
and once more when the run ends (always, even when interrupted).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

MIN_INTERVAL_S = 1.0
"""A reader watching summary.json sees it at most this stale (plus one question) while the run goes."""
MAX_SHARE = 0.05
"""The largest share of a run's wall time spent rebuilding derived files."""


class Checkpoints:
    def __init__(
        self, min_interval_s: float = MIN_INTERVAL_S, max_share: float = MAX_SHARE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.min_interval_s = min_interval_s
        self.max_share = max_share
        self._clock = clock
        self._last_end: float | None = None
        self._last_cost_s = 0.0
        self.taken = 0

    def due(self) -> bool:
        if self._last_end is None:
            return True
        waited = self._clock() - self._last_end
        return waited >= max(self.min_interval_s, self._last_cost_s / self.max_share)

    def take(self, write: Callable[[], T]) -> T:
        """Run `write` now and time it."""
        start = self._clock()
        out = write()
        self._last_end = self._clock()
        self._last_cost_s = self._last_end - start
        self.taken += 1
        return out

    def maybe(self, write: Callable[[], T]) -> T | None:
        """Run `write` if a checkpoint is due; None when it is not."""
        return self.take(write) if self.due() else None
