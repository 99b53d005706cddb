"""Progress of a long stage (the index build): a bar on a terminal, a plain line every few seconds otherwise.

A build that runs under `make`, in CI or with its output sent to a file would otherwise be silent for a minute or
more; a line every `every_s` seconds (with the rate and the time left) tells that it is alive without filling a
log the way a redrawn bar does. Called as `progress(stage, done, total)`, the signature `build_index` reports
with; nothing is shown until the first call, so an index that is reused prints nothing.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class StageProgress:
    def __init__(self, quiet: bool = False, stream: TextIO | None = None, every_s: float = 5.0,
                 label: str = "index") -> None:  # fmt: skip
        self.quiet, self.every_s, self.label = quiet, every_s, label
        self.stream = stream if stream is not None else sys.stderr
        self._bar: Any = None  # a rich Progress on a terminal, started on first use
        self._tasks: dict[str, int] = {}
        self._done: dict[str, bool] = {}
        self._started: dict[str, float] = {}
        self._last_line = 0.0

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        self._started.setdefault(stage, now)
        if self.stream.isatty():
            self._draw(stage, done, total)
        elif done >= total or now - self._last_line >= self.every_s:
            self._line(stage, done, total, now)

    def _draw(self, stage: str, done: int, total: int) -> None:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=Console(file=self.stream), transient=False)  # fmt: skip
            self._bar.start()
        if stage not in self._tasks:
            self._tasks[stage] = self._bar.add_task(stage, total=total)
        self._bar.update(self._tasks[stage], completed=done, total=total)
        self._done[stage] = done >= total
        if all(self._done.values()):
            # Stopped as soon as its stages are done, so that a later bar (a run's questions) can take the screen;
            # rich allows one live display at a time. A stage that starts after this gets a bar of its own.
            self.__exit__()
            self._tasks, self._done = {}, {}

    def _line(self, stage: str, done: int, total: int, now: float) -> None:
        self._last_line = now
        elapsed_s = now - self._started[stage]
        rate = done / elapsed_s if elapsed_s > 0 else 0.0
        share = f"{100 * done / total:.0f}%" if total else "100%"
        tail = f", {elapsed_s:.0f} s" if done >= total else ""
        if rate > 0 and done < total:
            tail = f", {rate:.1f}/s, about {(total - done) / rate:.0f} s left"
        print(f"{self.label}: {stage} {done}/{total} ({share}){tail}", file=self.stream, flush=True)
