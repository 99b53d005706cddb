"""What a run's question records say about how each question ended, read the same way by the summary and the
audit (and for records written before a field existed)."""

from __future__ import annotations

from typing import Any


def question_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    """How the questions done so far ended. `num_answered` counts questions that got an answer (a failed one
    did not); `num_unparseable` the answers with no answer to read in the output (they score as blank);
    `num_recovered` the incomplete JSON answers whose value and refs were read; `num_errors` is the seed's name
    for `num_failed`."""
    failed = sum(1 for r in records if r.get("error"))
    statuses = [parse_status(r) for r in records]
    return {
        "num_done": len(records),
        "num_answered": len(records) - failed,
        "num_failed": failed,
        "num_errors": failed,
        "num_unparseable": statuses.count("unparseable"),
        "num_recovered": statuses.count("recovered"),
        "num_thinking_truncated": statuses.count("thinking_truncated"),
    }


def parse_status(record: dict[str, Any]) -> str | None:
    """A record's parse status; records written before it was stored tell it by their parse_error."""
    if record.get("error"):
        return None
    if record.get("parse_status"):
        return str(record["parse_status"])
    error = record.get("parse_error")
    if not error:
        return "ok"
    return "recovered" if "recovered" in str(error) else "unparseable"
