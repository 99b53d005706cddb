"""Names that become paths: run, ensemble and scaling names.

A name is used as one path component under a store root, so it must never be able to climb out of it
(`../../victim`), be absolute (`/tmp/x`), be empty or `.`, or look like an option (`-x`). Checking the name is
the first guard; the store checks the resolved path as well (store/paths.py).
"""

from __future__ import annotations

import re

from wattbench.errors import WattbenchError

NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
NAME_RULE = "letters, digits, '.', '_' and '-', not starting with '.' or '-'"
MAX_NAME_LENGTH = 200


def name_problem(name: object) -> str | None:
    """Why `name` cannot be a run name, or None when it can."""
    if not isinstance(name, str) or not name:
        return "a name cannot be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"a name has at most {MAX_NAME_LENGTH} characters"
    if not NAME_PATTERN.fullmatch(name):
        return f"'{name}' is not a name: use {NAME_RULE}"
    return None


def check_name(name: object, what: str = "--name") -> str:
    """`name` itself when it is a valid name; else a one-line error naming `what` (the flag or field)."""
    problem = name_problem(name)
    if problem:
        raise WattbenchError(f"{what}: {problem}")
    return str(name)
