"""A small real workspace for end-to-end runs: three corpus documents, the questions they answer, a config."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

DOCS = ("strubell2019.json", "khan2025.json", "rubei2025.json")
QUESTION_IDS = ("q153", "q262", "q202", "q164")  # answers in those documents, and one unanswerable


def make_workspace(wattbot: Path, root: Path, output_dir: Path | None = None) -> Path:
    """`root/data` (a data dir), `root/questions.csv` and `root/run.toml` (SmolLM2 on llama.cpp, no idle wait)."""
    corpus = root / "data" / "wattbot" / "corpus"
    corpus.mkdir(parents=True)
    for name in DOCS:
        shutil.copy(wattbot / "corpus" / name, corpus / name)
    shutil.copy(wattbot / "metadata.csv", root / "data" / "wattbot" / "metadata.csv")
    with open(wattbot / "train_QA.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(root / "questions.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["id"] in QUESTION_IDS)
    (root / "run.toml").write_text(
        f'questions = "{root / "questions.csv"}"\noutput_dir = "{output_dir or root / "runs"}"\n'
        f'[retrieval]\nindex_path = "{root / "index.sqlite"}"\n[energy]\nidle_seconds = 0\n'
    )
    return root
