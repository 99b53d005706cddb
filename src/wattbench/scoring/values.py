"""Per-cell rules of the WattBot metric: value match, ref overlap, and the lenient normaliser.

`value_matches` and `ref_overlap` follow the official competition metric exactly (cells compared as the strings
pandas produced, Python's `float()` for numbers, `math.isclose(rel_tol=1e-3, abs_tol=1e-3)`), because kaggle mode
must agree with the leaderboard to the last digit. `normalize_value` is wattbench's own, used by lenient mode and by
the RAG task to clean model output before scoring.
"""

from __future__ import annotations

import json
import math
import re

from wattbench.data.wattbot import is_blank_value

TOLERANCE = 1e-3

ListItem = float | str


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# A list of plainly quoted ids, the common case: what json.loads would return, without its cost. Anything else
# (numbers, escapes, control characters) takes the json path below.
_WS = r"[ \t\n\r]*"  # JSON's whitespace only: a cell that json.loads rejects must not take the fast path
_QUOTED_LIST = re.compile(
    rf"\[{_WS}(?:['\"][^'\"\\\x00-\x1f]*['\"]{_WS}(?:,{_WS}['\"][^'\"\\\x00-\x1f]*['\"]{_WS})*)?\]"
)
_QUOTED_ITEM = re.compile(r"['\"]([^'\"\\\x00-\x1f]*)['\"]")


def _ref_set_via_json(text: str) -> set[str]:
    if text.startswith("["):
        try:
            items = json.loads(text.replace("'", '"'))
        except ValueError:
            items = None
        if isinstance(items, list):
            return {_text(item).strip().lower() for item in items}
    return {text.lower()}


def ref_set(raw: str) -> set[str]:
    """Lower-cased ref ids of a cell: a JSON-ish list (`['a','b']`), else the whole cell as one id (`is_blank` too)."""
    text = _text(raw).strip()
    if not text:
        return set()
    if _QUOTED_LIST.fullmatch(text):
        return {item.strip().lower() for item in _QUOTED_ITEM.findall(text)}
    return _ref_set_via_json(text)


def ref_overlap(solution_ref: str, submission_ref: str) -> float:
    """Jaccard overlap of the two ref id sets: both empty → 1, one empty → 0."""
    expected, got = ref_set(solution_ref), ref_set(submission_ref)
    if not expected and not got:
        return 1.0
    if not expected or not got:
        return 0.0
    return len(expected & got) / len(expected | got)


def parse_list(raw: str) -> list[ListItem] | None:
    """A `[a, b]` cell as a list (numbers as floats, text lower-cased), a `{a, b}` cell as a sorted set; else None."""
    text = _text(raw).strip()
    if not text:
        return None
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text.replace("'", '"'))
        except ValueError:
            parsed = [part.strip() for part in text[1:-1].split(",")]
        out: list[ListItem] = []
        for item in parsed:
            item_text = _text(item).strip()
            number = _float_or_none(item_text)
            out.append(number if number is not None else item_text.lower())
        return out
    if text.startswith("{") and text.endswith("}"):
        return sorted({t.strip().lower() for t in text[1:-1].split(",") if t.strip()})
    return None


def _all_numbers(items: list[ListItem]) -> bool:
    return all(isinstance(item, float) for item in items)


def lists_match(expected: list[ListItem], got: list[ListItem]) -> bool:
    """Order-insensitive: numbers element-wise with the tolerance, anything else as case-insensitive strings."""
    if _all_numbers(expected) and _all_numbers(got):
        a = sorted(float(x) for x in expected)
        b = sorted(float(y) for y in got)
        return len(a) == len(b) and all(math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=TOLERANCE) for x, y in zip(a, b))
    return sorted(_text(x).strip().lower() for x in expected) == sorted(_text(x).strip().lower() for x in got)


def value_matches(solution_value: str, submission_value: str) -> bool:
    """The official value rule. A blank solution counts as matched whatever was submitted."""
    if is_blank_value(solution_value):
        return True
    expected_list = parse_list(solution_value)
    got_list = parse_list(submission_value)
    if expected_list is not None:
        if got_list is not None:
            return lists_match(expected_list, got_list)
        if len(expected_list) == 2 and _all_numbers(expected_list):
            # A 2-number solution is a range: a scalar inside it (bounds widened by the tolerance) matches.
            low, high = sorted(float(x) for x in expected_list)
            number = _float_or_none(submission_value)
            return number is not None and low - TOLERANCE <= number <= high + TOLERANCE
        return False
    expected_number, got_number = _float_or_none(solution_value), _float_or_none(submission_value)
    if expected_number is not None and got_number is not None:
        return math.isclose(expected_number, got_number, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return _text(solution_value).strip().lower() == _text(submission_value).strip().lower()


# ---------------------------------------------------------------- lenient normalisation (wattbench's own) ----

_TRUE_WORDS = frozenset({"true", "yes"})
_FALSE_WORDS = frozenset({"false", "no"})
_HEDGE = re.compile(
    r"^(?:(?:approximately|approx\.?|about|around|roughly|nearly|almost|circa|ca\.|over|under|more\s+than|"
    r"less\s+than|greater\s+than|fewer\s+than|up\s+to|at\s+least|at\s+most)\s+|(?:~|≈|>=|<=|≥|≤|>|<)\s*)",
    re.IGNORECASE,
)
_NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+"
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_MAGNITUDES = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "million": 1e6,
    "b": 1e9,
    "billion": 1e9,
    "t": 1e12,
    "trillion": 1e12,
}
_MAGNITUDE = re.compile(rf"^({_NUMBER})\s*(k|m|b|t|thousand|million|billion|trillion)$", re.IGNORECASE)
_RANGE = re.compile(
    rf"^(?:from\s+|between\s+)?({_NUMBER})\s*%?\s*(?:-|–|—|to|and)\s*({_NUMBER})$",  # "29% to 49%": a % each end
    re.IGNORECASE,
)


def format_number(number: float) -> str:
    """Shortest faithful text: integers without a trailing .0, others as Python writes them."""
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return repr(number)


def _plain_number(text: str) -> float:
    return float(text.replace(",", ""))


def normalize_value(raw: str) -> str:
    """Clean a submitted value without changing its meaning.

    true/yes → 1 and false/no → 0; hedges dropped ("approximately 5", "~5", "more than 40"); thousands commas
    dropped; K/M/B/T and thousand/million/billion/trillion expanded; a trailing % dropped; ranges written
    `a-b`, `a to b`, `from a to b`, `between a and b` become `[lo,hi]`, with a % after either end or both
    (`29-49%`, `29% to 49%`, `29%-49%`). Anything else is returned stripped.
    """
    text = _text(raw).strip()
    if is_blank_value(text):
        return text
    lower = text.lower()
    if lower in _TRUE_WORDS:
        return "1"
    if lower in _FALSE_WORDS:
        return "0"
    while (hedge := _HEDGE.match(text)) is not None and hedge.end() < len(text):
        text = text[hedge.end() :].strip()
    if text.endswith("%"):
        text = text[:-1].strip()
    if _THOUSANDS.fullmatch(text):
        return format_number(_plain_number(text))
    magnitude = _MAGNITUDE.match(text)
    if magnitude:
        return format_number(_plain_number(magnitude.group(1)) * _MAGNITUDES[magnitude.group(2).lower()])
    span = _RANGE.match(text)
    if span:
        low, high = sorted((_plain_number(span.group(1)), _plain_number(span.group(2))))
        return f"[{format_number(low)},{format_number(high)}]"
    return text
