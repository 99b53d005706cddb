"""Reading text files whatever their encoding.

The published WattBot files mix encodings: `train_QA.csv` is UTF-8 with a BOM and `metadata.csv` is cp1252.
Users' own files arrive in either, so every reader decodes through `decode_bytes` instead of trusting a default.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wattbench.errors import DataError


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Return (text, encoding): UTF-8 (BOM stripped) when valid, else cp1252, else latin-1 (never fails)."""
    if raw.startswith(codecs.BOM_UTF8):
        try:
            return raw[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; latin-1 maps every byte, so a stray one cannot stop a run.
        return raw.decode("latin-1"), "latin-1"


def read_text(path: Path) -> str:
    """Read a whole text file, decoded by `decode_bytes`; a missing or unreadable file is a one-line error."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); check permissions") from None
    return decode_bytes(raw)[0]


@dataclass(frozen=True)
class CsvTable:
    """A CSV read as text: cells exactly as written (an empty cell is ""), with 1-based file row numbers."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    line_numbers: list[int]  # the CSV row number (header = 1) of each entry of `rows`, for error messages

    def require(self, *names: str) -> None:
        """Raise a one-line error naming the first required column that is missing."""
        for name in names:
            if name not in self.columns:
                have = ", ".join(self.columns) or "none"
                raise DataError(f"{self.path}: missing required column '{name}' (columns found: {have})")


# csv's default cell limit is 128 KiB; pandas (which the kaggle mode reads with, as the official metric does) has
# none, so a long explanation or raw output read by one mode and refused by the other would score differently.
CELL_LIMIT = 1 << 30
csv.field_size_limit(CELL_LIMIT)


def read_csv_records(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(column names, records): each record is (CSV row number with the header as 1, cells padded to the header's
    width). Blank rows are skipped; a malformed row is a one-line error naming it when the iterator reaches it."""
    path = Path(path)
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        columns = [c.strip() for c in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: file is empty, expected a CSV header row") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None

    def records() -> Iterator[tuple[int, list[str]]]:
        width = len(columns)
        try:
            for number, cells in enumerate(reader, start=2):
                if not cells or all(not c.strip() for c in cells):
                    continue
                yield number, cells + [""] * (width - len(cells)) if len(cells) < width else cells
        except csv.Error as exc:
            raise DataError(f"{path}: row {reader.line_num}: not a readable CSV row ({exc})") from None

    return columns, records()


def read_csv_table(path: Path) -> CsvTable:
    """Read a CSV file with any of the encodings above; every cell stays a string as written."""
    columns, records = read_csv_records(path)
    rows: list[dict[str, str]] = []
    line_numbers: list[int] = []
    for number, cells in records:
        rows.append(dict(zip(columns, cells)))
        line_numbers.append(number)
    return CsvTable(path=Path(path), columns=columns, rows=rows, line_numbers=line_numbers)
