"""The log files a run and a batch row write: one line per step, URL credentials redacted, and a full disk that
never turns a log line into a traceback (the records say what happened; the log is a convenience)."""

from __future__ import annotations

import logging
from pathlib import Path

from wattbench.store.safe_io import guarded
from wattbench.urls import RedactingFilter

LOG_FORMAT = "[%(asctime)s] %(levelname)s: %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class _QuietFileHandler(logging.FileHandler):
    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass  # a log line lost to a full disk; the write that matters (a record) fails in one line on its own


def file_logger(name: str, path: Path) -> logging.Logger:
    """The logger `name`, writing to `path` (opened once per logger), not to the root logger."""
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    log.propagate = False
    if not log.handlers:
        with guarded(path, "open the log"):
            handler = _QuietFileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT))
        handler.addFilter(RedactingFilter())
        log.addHandler(handler)
    return log


def close_logger(log: logging.Logger) -> None:
    """Close the logger's files (a run that ended must not hold its log open: the folder may be unmounted)."""
    for handler in list(log.handlers):
        handler.close()
        log.removeHandler(handler)
