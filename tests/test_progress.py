"""Progress of a long stage: plain lines every few seconds off a terminal, a bar that gives way on one."""

from __future__ import annotations

import io
import time

from wattbench.progress import StageProgress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_one_line_every_interval_and_one_at_the_end():
    stream = io.StringIO()
    progress = StageProgress(stream=stream, every_s=0.2)
    total = 60
    started = time.monotonic()
    for done in range(total + 1):  # 60 reports over about 1.2 s of real time
        progress("embedding", done, total)
        time.sleep(0.02)
    elapsed_s = time.monotonic() - started
    lines = stream.getvalue().splitlines()
    assert all(line.startswith("index: embedding ") for line in lines)
    # One line at the start, one per 0.2 s, one at completion; never one per report.
    assert 3 <= len(lines) <= elapsed_s / 0.2 + 2, lines
    assert lines[-1].startswith("index: embedding 60/60 (100%), ") and lines[-1].endswith(" s")
    assert any("/s, about " in line and " s left" in line for line in lines[1:-1])


def test_quiet_prints_nothing_and_a_terminal_gets_a_bar_that_stops_when_done():
    quiet = io.StringIO()
    StageProgress(quiet=True, stream=quiet, every_s=0)("embedding", 1, 2)
    assert quiet.getvalue() == ""

    terminal = _Terminal()
    with StageProgress(stream=terminal) as progress:
        progress("chunking", 3, 3)
        progress("embedding", 5, 10)
        assert progress._bar is not None
        progress("embedding", 10, 10)
        assert progress._bar is None  # stopped at once, so the run's question bar can start
    assert "embedding" in terminal.getvalue() and "10/10" in terminal.getvalue()
