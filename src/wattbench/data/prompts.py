"""Text-generation prompt sets: a CSV (with or without a header), JSONL, parquet, or a Hugging Face dataset id.

The published `prompts.csv` has no header: every row is one quoted prompt followed by an empty cell. A CSV
whose first row names a known prompt column (`prompt`, `text`, ...) is read by that column instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from wattbench.data.textio import read_csv_records, read_text
from wattbench.errors import DataError

PROMPT_COLUMNS = ("prompt", "prompts", "text", "question", "input", "instruction", "content")
DEFAULT_HF_SPLIT = "train"


def _pick_column(columns: list[str], wanted: str | None, source: str) -> int | None:
    """Index of the prompt column, or None when the file has no header (its first row is a prompt)."""
    lowered = [c.strip().lower() for c in columns]
    if wanted:
        if wanted.lower() not in lowered:
            raise DataError(f"{source}: no column '{wanted}' (columns: {', '.join(columns)})")
        return lowered.index(wanted.lower())
    for name in PROMPT_COLUMNS:
        if name in lowered:
            return lowered.index(name)
    first = columns[0] if columns else ""
    if " " in first.strip() or len(first) > 40:
        return None
    raise DataError(f"{source}: no prompt column (looked for {', '.join(PROMPT_COLUMNS)}); pass --prompt-column")


def _from_csv(path: Path, column: str | None) -> list[str]:
    columns, records = read_csv_records(path)
    index = _pick_column(columns, column, str(path))
    prompts = [columns[0]] if index is None else []
    for _, cells in records:
        prompts.append(cells[index or 0])
    return prompts


def _from_jsonl(path: Path, column: str | None) -> list[str]:
    prompts = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number}: not JSON ({exc.msg}); one JSON object per line") from None
        if isinstance(item, str):
            prompts.append(item)
            continue
        key = column or next((k for k in PROMPT_COLUMNS if isinstance(item, dict) and k in item), None)
        if not isinstance(item, dict) or key is None or key not in item:
            raise DataError(
                f"{path}: line {number}: no prompt field (looked for {column or ', '.join(PROMPT_COLUMNS)})"
            )
        prompts.append(str(item[key]))
    return prompts


def _from_parquet(path: Path, column: str | None) -> list[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading parquet needs pyarrow: pip install pyarrow") from None
    table = pq.read_table(path)
    index = _pick_column(table.column_names, column, str(path))
    if index is None:
        raise DataError(f"{path}: no prompt column; pass --prompt-column")
    return [str(v) for v in table.column(index).to_pylist()]


def _from_hub(dataset_id: str, column: str | None) -> list[str]:
    try:
        import datasets
    except ImportError:
        raise DataError(f"prompts '{dataset_id}': a Hugging Face dataset needs `pip install datasets`") from None
    try:
        data = datasets.load_dataset(dataset_id, split=DEFAULT_HF_SPLIT)
    except Exception as exc:  # offline, unknown id, gated: one line saying which
        raise DataError(
            f"prompts '{dataset_id}': cannot load the dataset ({str(exc).splitlines()[0][:120]}); "
            "pass a local --prompts-file"
        ) from None
    index = _pick_column(list(data.column_names), column, dataset_id)
    if index is None:
        raise DataError(f"prompts '{dataset_id}': no prompt column; pass --prompt-column")
    return [str(v) for v in data[data.column_names[index]]]


def load_prompts(source: str | Path, column: str | None = None, limit: int | None = None) -> list[str]:
    """Prompts from a file or a dataset id, stripped, empty ones dropped, the first `limit` kept."""
    path = Path(source)
    suffix = path.suffix.lower()
    if path.exists():
        if suffix in (".jsonl", ".json"):
            prompts = _from_jsonl(path, column)
        elif suffix == ".parquet":
            prompts = _from_parquet(path, column)
        else:
            prompts = _from_csv(path, column)
    elif suffix in (".csv", ".jsonl", ".json", ".parquet", ".txt") or str(source).startswith((".", "/")):
        raise DataError(f"{source}: prompts file not found; check --prompts-file")
    else:
        prompts = _from_hub(str(source), column)
    prompts = [p.strip() for p in prompts if p and p.strip()]
    if not prompts:
        raise DataError(f"{source}: no prompts in it")
    return prompts[:limit] if limit else prompts
