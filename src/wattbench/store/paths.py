"""Paths the store builds from names, and the one way a run dir is deleted.

Every path is checked after resolving (symlinks included) to stay inside its root, and `--force` deletes a
directory only when it is a wattbench run dir: inside the store, not a link, and holding nothing but the files a
run writes. Anything else is refused with a message, so a mistyped name can never delete a user's folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from wattbench.errors import WattbenchError
from wattbench.names import check_name

RUN_FILES = frozenset(
    {
        "summary.json",
        "results.jsonl",
        "results.json",
        "submission.csv",
        "power.csv",
        "run.log",
        "prompts.jsonl",
        "results.jsonl.torn",
        ".wattbench.lock",
    }
)
"""What a run dir (a WattBot run, an ensemble, a batch row) holds; temporary `.<file>.*` twins are allowed too."""
MARKERS = ("summary.json", "results.jsonl", "run.log", "prompts.jsonl")


def inside(root: Path, path: Path, what: str) -> Path:
    """`path` resolved, when it lies strictly inside `root` (resolved); else an error naming `what`."""
    base = Path(root).resolve()
    target = Path(path).resolve()
    if target == base or base not in target.parents:
        raise WattbenchError(f"{what}: {path} is outside {root}; use a plain name")
    return target


def run_dir_path(root: Path | str, name: str, what: str = "--name") -> Path:
    """`<root>/<name>` for a valid name that stays inside `root`."""
    check_name(name, what)
    path = Path(root) / name
    inside(Path(root), path, what)
    return path


def _is_run_file(entry: Path) -> bool:
    if entry.is_dir() or entry.is_symlink():
        return False
    name = entry.name
    return name in RUN_FILES or any(name.startswith(f".{known}.") for known in RUN_FILES)


def not_a_run_dir(path: Path) -> str | None:
    """Why `path` is not a directory a run wrote (None when it is one)."""
    if path.is_symlink():
        return "it is a symbolic link"
    if not path.is_dir():
        return "it is not a directory"
    entries = list(path.iterdir())
    strangers = [e.name for e in entries if not _is_run_file(e)]
    if strangers:
        return f"it holds {strangers[0]!r}, which no run writes"
    if entries and not any((path / m).exists() for m in MARKERS):
        return "it holds no summary.json, results.jsonl or run.log"
    return None


def check_removable(path: Path, root: Path | str) -> None:
    """Refuse --force on anything but a run dir inside `root`."""
    inside(Path(root), path, "--force")
    why = not_a_run_dir(Path(path))
    if why:
        raise WattbenchError(f"--force: {path} is not a wattbench run dir ({why}); remove it yourself if you mean to")


def remove_run_dir(path: Path, root: Path | str, keep: str | None = None) -> None:
    """Delete the run dir `path` (for --force), after checking it is one and lies inside `root`. `keep`: a file
    left in place, the lock the caller holds (deleting a held lock file would let a second writer in)."""
    check_removable(path, root)
    if keep is None:
        shutil.rmtree(path)
        return
    for entry in Path(path).iterdir():
        if entry.name != keep:
            entry.unlink()


def linked_run_files(path: Path) -> list[str]:
    """Run files in `path` that are symbolic links: the store would read or write outside itself through them."""
    return sorted(name for name in RUN_FILES if (Path(path) / name).is_symlink())
