"""Retrieval quality on questions with gold references.

- document recall@k: the share of a question's gold documents among the documents of its top-k passages,
  averaged over questions (questions whose ref_id is is_blank are skipped);
- MRR: 1 / rank of the first passage from a gold document (0 if none is returned);
- evidence recall@k: the share of questions where a top-k passage contains the gold supporting material's
  content (at least half of its content words) or the answer value as written (not for True/False questions,
  whose 1/0 would match any digit). Supporting material that only points somewhere ("Table 3", "Figure 13",
  "Table 1 and Table 3") has no content to find, so those questions count by their answer value alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from wattbench.data.wattbot import Question, is_blank_value
from wattbench.retrieval.bm25 import content_words
from wattbench.retrieval.search import Hit

EVIDENCE_OVERLAP = 0.5
_LOCATOR_ONLY = re.compile(r"^\s*(?:(?:table|tab\.|figure|fig\.)\s*[a-z]?\d+[a-z]?\s*(?:,|and|&)?\s*)+$", re.IGNORECASE)


def _quote_words(supporting_materials: str) -> set[str]:
    if is_blank_value(supporting_materials) or _LOCATOR_ONLY.match(supporting_materials):
        return set()
    return set(content_words(supporting_materials))


def evidence_found(question: Question, passages: Sequence[str]) -> bool:
    words = _quote_words(question.supporting_materials)
    value = question.answer_value.strip()
    check_value = (
        question.value.kind in ("number", "text")
        and not question.question.lower().startswith("true or false")
        and len(value) > 1
    )
    pattern = re.compile(rf"(?<![\w.]){re.escape(value)}(?![\w]|\.\d)", re.IGNORECASE) if check_value else None
    for text in passages:
        if words and len(words & set(content_words(text))) >= EVIDENCE_OVERLAP * len(words):
            return True
        if pattern is not None and pattern.search(text):
            return True
    return False


@dataclass
class RetrievalScores:
    n_questions: int
    doc_recall: dict[int, float]
    mrr: float
    evidence_recall: float
    evidence_k: int


def score_retrieval(
    questions: Sequence[Question],
    results: Sequence[Sequence[Hit]],
    ks: Sequence[int] = (1, 3, 5, 10),
    evidence_k: int = 5,
) -> RetrievalScores:
    """Score ranked hits (as many per question as the largest k) against the questions' gold refs."""
    recall = {k: 0.0 for k in ks}
    reciprocal = 0.0
    evidence = 0
    n = 0
    for question, hits in zip(questions, results):
        gold = {r.lower() for r in question.ref_ids}
        if not gold:
            continue
        n += 1
        for k in ks:
            found = {h.chunk.doc_id.lower() for h in hits[:k]}
            recall[k] += len(gold & found) / len(gold)
        first = next((h.rank for h in hits if h.chunk.doc_id.lower() in gold), None)
        reciprocal += 1.0 / first if first else 0.0
        evidence += evidence_found(question, [h.chunk.text for h in hits[:evidence_k]])
    n = max(n, 1)
    return RetrievalScores(
        n_questions=n,
        doc_recall={k: v / n for k, v in recall.items()},
        mrr=reciprocal / n,
        evidence_recall=evidence / n,
        evidence_k=evidence_k,
    )
