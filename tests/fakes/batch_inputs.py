"""The two files a batch test writes: a models CSV in the Energy Score layout and a JSONL prompt set."""

from __future__ import annotations

import csv
import json
from pathlib import Path

HEADER = ["", "Models to Add", "Priority (1=hi)", "Class", "Task", "Reasoning State", "Chat Template"]


def models_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """Rows of (model, class, reasoning state), task text_gen, priority 1."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i, (model, cls, state) in enumerate(rows):
            writer.writerow([i, model, 1, cls, "text_gen", state, "N/A"])
    return path


def prompts_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts), encoding="utf-8")
    return path
