"""User-facing errors.

Every error a user can cause (a bad file, row, field or option) is a `WattbenchError` whose message is one line
naming the file, row or field and what to do. The CLI prints it and exits with code 2; library callers catch it.
"""

from __future__ import annotations


class WattbenchError(Exception):
    """Bad input: the message is one line that says what is wrong and what to do."""

    exit_code = 2


class DataError(WattbenchError):
    """A data file (questions, metadata, corpus, submission) is missing or malformed."""


class ConfigError(WattbenchError):
    """A configuration file or option is invalid."""
