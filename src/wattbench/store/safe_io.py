"""Writes that fail in one line: a full disk, a read-only or unwritable folder, a link where a file should be.

Every file the store (or a report) writes goes through `guarded`, which turns the OSError into a StoreError
(exit 2) naming the path and what to do, instead of a traceback. The writers themselves leave nothing half
done: an atomic write removes its temporary file, an append that fails is cut back to where it started.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wattbench.errors import WattbenchError


class StoreError(WattbenchError):
    """A file the store must write cannot be written."""


ADVICE = {
    errno.ENOSPC: "the disk is full: free space on it, then rerun the same command (finished work is kept)",
    errno.EDQUOT: "the disk quota is used up: free space, then rerun the same command (finished work is kept)",
    errno.EROFS: "the file system is read-only: write elsewhere (another --output-dir / --out) or remount it",
    errno.EACCES: "permission denied: make the folder writable, or write elsewhere",
    errno.EPERM: "permission denied: make the folder writable, or write elsewhere",
    errno.ELOOP: "it is a symbolic link, and the store never writes through one: replace the link by the file",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "it is a folder, not a file: choose a file name",
}


def advice(exc: OSError) -> str:
    return ADVICE.get(exc.errno or 0, f"{exc.strerror or type(exc).__name__}: check the path and the disk")


@contextmanager
def guarded(path: Path, doing: str = "write") -> Iterator[None]:
    """Run the block; an OSError becomes one line: `<path>: cannot <doing> it: <what to do>`."""
    try:
        yield
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"{path}: cannot {doing} it: {advice(exc)}") from None
