"""The AI Energy Score text-generation dataset (`EnergyStarAI/text_generation`), read from a local copy.

The official pipeline loads it from the Hugging Face Hub: one parquet, column `text`, 1,000 rows, and measures the
first N in file order. Here it is read from what a user has on disk, never downloaded:
- a parquet or JSONL file (`--prompts-file`), or a folder holding one (a `hf download` target);
- a Hugging Face hub cache (`datasets--EnergyStarAI--text_generation/snapshots/...`) or a `datasets` library cache
  (`EnergyStarAI___text_generation/.../*.arrow`);
- without `--prompts-file`: the hub cache ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub), the `datasets`
  cache, then the data dir's energy_score/text_generation/.
Its sha256 (of the file) and the number of rows used are recorded with every run, so a figure can be traced to the
exact prompts it came from.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from wattbench.data.textio import read_text
from wattbench.errors import DataError

DATASET_ID = "EnergyStarAI/text_generation"
TEXT_COLUMN = "text"
OFFICIAL_ROWS = 1000
HOW_TO_FETCH = (
    f"fetch it on a machine with internet: `hf download {DATASET_ID} --repo-type dataset --local-dir DIR`, "
    "then pass --prompts-file DIR (or its .parquet)"
)


@dataclass(frozen=True)
class EnergyStarDataset:
    path: Path
    """The file the prompts were read from."""
    sha256: str
    rows: int
    """Rows in the file (the official dataset has 1,000)."""
    prompts: tuple[str, ...]

    def describe(self, used: int) -> dict[str, Any]:
        return {
            "id": DATASET_ID,
            "path": str(self.path),
            "sha256": self.sha256,
            "column": TEXT_COLUMN,
            "rows_in_file": self.rows,
            "prompts_used": used,
            "selection": f"first {used} rows in file order",
        }


def _hub_caches() -> list[Path]:
    roots = []
    if os.environ.get("HF_HUB_CACHE"):
        roots.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        roots += [Path(os.environ["HF_HOME"]) / "hub", Path(os.environ["HF_HOME"]) / "datasets"]
    if os.environ.get("HF_DATASETS_CACHE"):
        roots.append(Path(os.environ["HF_DATASETS_CACHE"]))
    home = Path.home() / ".cache" / "huggingface"
    return roots + [home / "hub", home / "datasets"]


def _files_in(folder: Path) -> list[Path]:
    """The dataset's data file(s) in a folder: parquet first (the hub's form), then `datasets` arrow, then JSONL."""
    for pattern in ("*.parquet", "*.arrow", "*.jsonl"):
        found = sorted(p for p in folder.rglob(pattern) if "train" in p.name or pattern != "*.arrow")
        found = [p for p in found if not p.name.startswith(".")]
        if found:
            return found
    return []


def _cache_folders(data_dir: Path | None) -> list[Path]:
    owner, name = DATASET_ID.split("/")
    folders = []
    for root in _hub_caches():
        folders += [root / f"datasets--{owner}--{name}", root / f"{owner}___{name}"]
    if data_dir is not None:
        folders.append(data_dir / "energy_score" / "text_generation")
    return folders


def locate(source: str | None, data_dir: Path | None) -> Path:
    """The data file to read: `source` (a file or a folder holding one), else the first cache that has it."""
    if source:
        path = Path(source)
        if path.is_file():
            return path
        if path.is_dir():
            files = _files_in(path)
            if not files:
                raise DataError(f"{path}: no .parquet, .arrow or .jsonl file of {DATASET_ID} in it; {HOW_TO_FETCH}")
            return files[0]
        raise DataError(f"{source}: not found; {HOW_TO_FETCH}")
    looked = _cache_folders(data_dir)
    for folder in looked:
        if folder.is_dir() and (files := _files_in(folder)):
            return files[0]
    raise DataError(f"dataset {DATASET_ID} not found in the Hugging Face caches or the data dir; {HOW_TO_FETCH}")


def _parquet_texts(path: Path) -> list[Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading parquet needs pyarrow: pip install pyarrow") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # a truncated or foreign file: say which
        raise DataError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0][:100]})") from None
    if TEXT_COLUMN not in table.column_names:
        raise DataError(
            f"{path}: no '{TEXT_COLUMN}' column (columns: {', '.join(table.column_names)}); the protocol reads "
            f"{DATASET_ID}'s '{TEXT_COLUMN}' column"
        )
    return list(table.column(TEXT_COLUMN).to_pylist())


def _arrow_texts(path: Path) -> list[Any]:
    try:
        import pyarrow as pa
    except ImportError:
        raise DataError(f"{path}: reading a datasets cache needs pyarrow: pip install pyarrow") from None
    try:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_stream(source).read_all()
    except Exception as exc:
        raise DataError(f"{path}: not a readable arrow file ({str(exc).splitlines()[0][:100]})") from None
    if TEXT_COLUMN not in table.column_names:
        raise DataError(f"{path}: no '{TEXT_COLUMN}' column (columns: {', '.join(table.column_names)})")
    return list(table.column(TEXT_COLUMN).to_pylist())


def _jsonl_texts(path: Path) -> list[Any]:
    texts = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number}: not JSON ({exc.msg}); one JSON object per line") from None
        if not isinstance(item, dict) or TEXT_COLUMN not in item:
            raise DataError(f"{path}: line {number}: no '{TEXT_COLUMN}' field; the protocol reads {DATASET_ID}")
        texts.append(item[TEXT_COLUMN])
    return texts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=4)
def _read(path: Path, mtime_ns: int) -> EnergyStarDataset:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        texts = _parquet_texts(path)
    elif suffix == ".arrow":
        texts = _arrow_texts(path)
    elif suffix in (".jsonl", ".json"):
        texts = _jsonl_texts(path)
    else:
        raise DataError(f"{path}: the protocol's dataset is a .parquet, .arrow or .jsonl file (got '{suffix}')")
    for index, text in enumerate(texts):
        # A null or blank row would shift every later prompt against the official first-N selection.
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}: row {index + 1}: '{TEXT_COLUMN}' is empty; use an unmodified copy of the dataset")
    return EnergyStarDataset(path, _sha256(path), len(texts), tuple(texts))


def load_dataset(source: str | None, data_dir: Path | None, wanted: int | None) -> tuple[EnergyStarDataset, list[str]]:
    """(the dataset, its first `wanted` prompts, default 1,000). Fewer rows than asked is an error, not a
    silently smaller run: Wh per 1,000 queries from fewer prompts is a different sample."""
    path = locate(source, data_dir)
    dataset = _read(path.resolve(), path.stat().st_mtime_ns)
    count = wanted or OFFICIAL_ROWS
    if dataset.rows < count:
        raise DataError(
            f"{path}: {dataset.rows} rows of '{TEXT_COLUMN}', {count} asked; pass --num-prompts {dataset.rows} "
            f"or the full {DATASET_ID} ({OFFICIAL_ROWS} rows)"
        )
    # The prompts go in as stored: the official pipeline does not strip or filter them.
    return dataset, list(dataset.prompts[:count])
