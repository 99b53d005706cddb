"""WattBot 2025 data: questions (train_QA.csv and files in the same format), document metadata, parsed corpus."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from wattbench.data.textio import CsvTable, read_csv_table
from wattbench.errors import DataError

QUESTION_COLUMNS = (
    "id",
    "question",
    "answer",
    "answer_value",
    "answer_unit",
    "ref_id",
    "ref_url",
    "supporting_materials",
    "explanation",
)
# Columns the Kaggle solution file adds; kept on each Question in `extra`.
EVIDENCE_COLUMNS = ("Quote", "Table", "Figure", "Math", "is_NA")

BLANK_TOKENS = frozenset({"", "na", "n/a", "is_blank"})
FALLBACK_ANSWER = "Unable to answer with confidence based on the provided documents."
_FALLBACK_PREFIX = FALLBACK_ANSWER.rstrip(".").lower()


def is_blank_value(value: object) -> bool:
    """The WattBot rule for "no answer": empty, na, n/a, is_blank, or the standard refusal sentence."""
    text = "" if value is None else str(value).strip().lower()
    return text in BLANK_TOKENS or text.startswith(_FALLBACK_PREFIX)


def parse_ref_ids(raw: str) -> tuple[str, ...]:
    """Parse a ref_id cell: `['a','b']`, `["a"]`, `[a, b]`, a bare id, or is_blank (no refs)."""
    text = (raw or "").strip()
    if is_blank_value(text):
        return ()
    if text.startswith("[") and text.endswith("]"):
        items = (part.strip().strip("'\"").strip() for part in text[1:-1].split(","))
        return tuple(item for item in items if item and not is_blank_value(item))
    return (text,)


AnswerKind = Literal["blank", "number", "range", "list", "text"]


@dataclass(frozen=True)
class AnswerValue:
    """A parsed answer_value: a number (booleans are 1/0), a [lo, hi] range, a list of terms, text, or blank."""

    raw: str
    kind: AnswerKind
    number: float | None = None
    low: float | None = None
    high: float | None = None
    items: tuple[str, ...] = ()


def _as_float(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_answer_value(raw: str) -> AnswerValue:
    text = (raw or "").strip()
    if is_blank_value(text):
        return AnswerValue(raw=raw, kind="blank")
    if text.startswith("[") and text.endswith("]"):
        items = tuple(p.strip().strip("'\"").strip() for p in text[1:-1].split(",") if p.strip())
        numbers = [_as_float(item) for item in items]
        if len(items) == 2 and all(n is not None for n in numbers):
            low, high = sorted(n for n in numbers if n is not None)
            return AnswerValue(raw=raw, kind="range", low=low, high=high, items=items)
        return AnswerValue(raw=raw, kind="list", items=items)
    number = _as_float(text)
    if number is not None:
        return AnswerValue(raw=raw, kind="number", number=number)
    return AnswerValue(raw=raw, kind="text")


@dataclass(frozen=True)
class Question:
    """One row of a WattBot question file. Answer fields are "" when the file has no such column (a test file)."""

    id: str
    question: str
    answer: str = ""
    answer_value: str = ""
    answer_unit: str = ""
    ref_id: str = ""
    ref_url: str = ""
    supporting_materials: str = ""
    explanation: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ref_ids(self) -> tuple[str, ...]:
        return parse_ref_ids(self.ref_id)

    @property
    def value(self) -> AnswerValue:
        return parse_answer_value(self.answer_value)

    @property
    def is_answerable(self) -> bool:
        return not is_blank_value(self.answer_value)


def questions_from_table(table: CsvTable) -> list[Question]:
    table.require("id", "question")
    seen: dict[str, int] = {}
    questions: list[Question] = []
    for row, line in zip(table.rows, table.line_numbers):
        qid = row["id"].strip()
        if not qid:
            raise DataError(f"{table.path}: row {line}: empty id; every question needs a unique id")
        if qid in seen:
            raise DataError(
                f"{table.path}: row {line}: duplicate id '{qid}' (first at row {seen[qid]}); ids must be unique"
            )
        seen[qid] = line
        known = {name: row.get(name, "") for name in QUESTION_COLUMNS}
        known["id"] = qid
        extra = {k: v for k, v in row.items() if k not in QUESTION_COLUMNS}
        questions.append(Question(**known, extra=extra))
    return questions


def load_questions(path: Path) -> list[Question]:
    """Load train_QA.csv, a Kaggle solution file (extra columns kept) or a test file with only id and question."""
    return questions_from_table(read_csv_table(Path(path)))


@dataclass(frozen=True)
class DocumentMeta:
    """One row of metadata.csv."""

    id: str
    title: str
    url: str
    type: str = ""
    year: str = ""
    citation: str = ""


def load_metadata(path: Path) -> dict[str, DocumentMeta]:
    """Load metadata.csv (published as cp1252; any encoding reads), keyed by document id."""
    table = read_csv_table(Path(path))
    table.require("id", "title", "url")
    out: dict[str, DocumentMeta] = {}
    for row, line in zip(table.rows, table.line_numbers):
        doc_id = row["id"].strip()
        if not doc_id:
            raise DataError(f"{table.path}: row {line}: empty id")
        if doc_id in out:
            raise DataError(f"{table.path}: row {line}: duplicate document id '{doc_id}'")
        out[doc_id] = DocumentMeta(
            id=doc_id,
            title=row["title"].strip(),
            url=row["url"].strip(),
            type=row.get("type", "").strip(),
            year=row.get("year", "").strip(),
            citation=row.get("citation", "").strip(),
        )
    return out


@dataclass(frozen=True)
class Paragraph:
    text: str
    is_image: bool  # an image placeholder ("[Image page=...]") with no caption, not text


@dataclass(frozen=True)
class Page:
    number: int
    paragraphs: tuple[Paragraph, ...]


@dataclass(frozen=True)
class Document:
    """A parsed corpus document: its pages in order, each with its paragraphs."""

    doc_id: str
    title: str
    text: str
    url: str
    pages: tuple[Page, ...]
    source: Path

    @property
    def n_image_placeholders(self) -> int:
        return sum(p.is_image for page in self.pages for p in page.paragraphs)


def load_document(path: Path) -> Document:
    """Load one `corpus/<id>.json` file (document_id, title, text, metadata, sections → paragraphs)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); re-fetch the corpus with 'make data'") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object with document_id and sections")
    for key in ("document_id", "sections"):
        if key not in raw:
            raise DataError(f"{path}: missing field '{key}'; re-fetch the corpus with 'make data'")
    if not isinstance(raw["sections"], list):
        raise DataError(f"{path}: field 'sections' must be a list of pages")
    pages: list[Page] = []
    for position, section in enumerate(raw["sections"], start=1):
        meta = section.get("metadata") or {}
        number = int(meta.get("page", position))
        paragraphs = tuple(
            Paragraph(
                text=str(p.get("text", "")),
                is_image=(p.get("metadata") or {}).get("attachment_type") == "image",
            )
            for p in section.get("paragraphs", [])
        )
        pages.append(Page(number=number, paragraphs=paragraphs))
    metadata = raw.get("metadata") or {}
    return Document(
        doc_id=str(raw["document_id"]),
        title=str(raw.get("title", "")),
        text=str(raw.get("text", "")),
        url=str(metadata.get("url", "")),
        pages=tuple(pages),
        source=path,
    )


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Load every `*.json` in the corpus dir, sorted by file name so that order is stable."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise DataError(f"{corpus_dir}: corpus folder not found; run 'make data' or pass --data-dir")
    files = sorted(corpus_dir.glob("*.json"))
    if not files:
        raise DataError(f"{corpus_dir}: no *.json documents in the corpus folder; run 'make data'")
    return [load_document(f) for f in files]


def load_queries(path: Path, column: str = "question") -> list[tuple[str, str]]:
    """(id, text) pairs from a question file's `column`; an empty file or unknown column is a one-line error."""
    table = read_csv_table(Path(path))
    if column not in table.columns:
        raise DataError(
            f"{table.path}: unknown column '{column}' (columns found: {', '.join(table.columns) or 'none'}); "
            "pass the question column with --column"
        )
    table.require("id")
    if not table.rows:
        raise DataError(f"{table.path}: no questions (the file has a header but no rows)")
    out = []
    for row, line in zip(table.rows, table.line_numbers):
        if not row[column].strip():
            raise DataError(f"{table.path}: row {line}: empty '{column}'; every row needs a question")
        out.append((row["id"].strip(), row[column].strip()))
    return out
