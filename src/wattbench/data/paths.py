"""Where the data lives: `--data-dir`, then `$WATTBENCH_DATA`, then `./data/`.

The data dir holds `wattbot/` (train_QA.csv, metadata.csv, corpus/) and `energy_score/` (models CSVs,
prompts.csv), the layout `make data` writes.
"""

from __future__ import annotations

import os
from pathlib import Path

from wattbench.errors import DataError

ENV_VAR = "WATTBENCH_DATA"
DEFAULT_DIR = Path("data")
HOW_TO_GET = "run 'make data' (or 'wattbench data fetch'), or pass --data-dir / set $WATTBENCH_DATA"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the data dir to use, in the documented order; a missing one is a one-line error saying how to get it."""
    if explicit:
        candidate, source = Path(explicit), "--data-dir"
    elif os.environ.get(ENV_VAR):
        candidate, source = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        candidate, source = DEFAULT_DIR, "the default ./data"
    if not candidate.is_dir():
        raise DataError(f"data dir {candidate} (from {source}) does not exist; {HOW_TO_GET}")
    return candidate


def wattbot_dir(data_dir: Path) -> Path:
    """The WattBot part of a data dir; accepts the data dir itself when it already is the WattBot folder."""
    if (data_dir / "train_QA.csv").exists() or (data_dir / "corpus").is_dir():
        return data_dir
    sub = data_dir / "wattbot"
    if not sub.is_dir():
        raise DataError(f"{data_dir}: no wattbot/ folder with train_QA.csv, metadata.csv and corpus/; {HOW_TO_GET}")
    return sub
