"""A summary of a WattBot data dir with integrity checks (every cited document exists, ids unique, ...)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from wattbench.data.paths import wattbot_dir
from wattbench.data.wattbot import load_corpus, load_metadata, load_questions


@dataclass
class DataSummary:
    data_dir: Path
    n_questions: int
    n_answerable: int
    n_unanswerable: int
    value_kinds: dict[str, int]
    n_metadata: int
    n_documents: int
    n_pages: int
    n_paragraphs: int
    n_image_placeholders: int
    corpus_chars: int
    problems: list[str] = field(default_factory=list)


def summarize(data_dir: Path) -> DataSummary:
    root = wattbot_dir(Path(data_dir))
    questions = load_questions(root / "train_QA.csv")
    metadata = load_metadata(root / "metadata.csv")
    corpus = load_corpus(root / "corpus")
    problems: list[str] = []
    corpus_ids = {d.doc_id for d in corpus}
    for q in questions:
        for ref in q.ref_ids:
            if ref not in metadata:
                problems.append(f"question {q.id} cites '{ref}', which metadata.csv does not list")
            if ref not in corpus_ids:
                problems.append(f"question {q.id} cites '{ref}', which is not in corpus/")
    for doc_id in sorted(set(metadata) - corpus_ids):
        problems.append(f"metadata.csv lists '{doc_id}' but corpus/ has no {doc_id}.json")
    return DataSummary(
        data_dir=root,
        n_questions=len(questions),
        n_answerable=sum(q.is_answerable for q in questions),
        n_unanswerable=sum(not q.is_answerable for q in questions),
        value_kinds=dict(Counter(q.value.kind for q in questions)),
        n_metadata=len(metadata),
        n_documents=len(corpus),
        n_pages=sum(len(d.pages) for d in corpus),
        n_paragraphs=sum(len(p.paragraphs) for d in corpus for p in d.pages),
        n_image_placeholders=sum(d.n_image_placeholders for d in corpus),
        corpus_chars=sum(len(d.text) for d in corpus),
        problems=problems,
    )
