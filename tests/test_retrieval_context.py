"""What the model reads: context spans from real corpus pages (real chunking, real BM25 tokens), inside a budget."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from wattbench.data.wattbot import load_document
from wattbench.retrieval.bm25 import tokenize
from wattbench.retrieval.chunk import Chunk, ChunkSettings, chunk_document, page_texts
from wattbench.retrieval.context import ContextBuilder, ContextSettings, ContextSpan, page_text, passage_spans
from wattbench.retrieval.search import Hit

DOCS = ("strubell2019.json", "patterson2021.json", "luccioni2024.json")


@dataclass
class _Index:  # what ContextBuilder reads of a LoadedIndex: its chunks and their BM25 tokens
    chunks: list[Chunk]
    tokens: list[list[str]]


@pytest.fixture(scope="module")
def corpus(wattbot: Path):
    documents = [load_document(wattbot / "corpus" / name) for name in DOCS if (wattbot / "corpus" / name).exists()]
    assert len(documents) >= 2
    chunks = [c for d in documents for c in chunk_document(d, ChunkSettings())]
    pages = {(d.doc_id, n): text for d in documents for n, text in page_texts(d)}
    return _Index(chunks, [tokenize(c.text) for c in chunks]), pages


def _hits(index: _Index, chunk_ids: list[str]) -> list[Hit]:
    by_id = {c.chunk_id: c for c in index.chunks}
    return [Hit(rank, by_id[cid], 1.0 / rank) for rank, cid in enumerate(chunk_ids, start=1)]


def _builder(index: _Index, **settings) -> ContextBuilder:
    return ContextBuilder(index, ContextSettings(**settings))  # type: ignore[arg-type]


def test_pages_put_back_together_from_passages_are_the_cleaned_pages(corpus):
    index, pages = corpus
    by_page: dict[tuple[str, int], list[Chunk]] = {}
    for chunk in index.chunks:
        by_page.setdefault((chunk.doc_id, chunk.page), []).append(chunk)
    assert len(by_page) > 20
    for key, chunks in by_page.items():
        rebuilt = page_text(chunks)
        for chunk in chunks:  # offsets still point at each passage
            assert rebuilt[chunk.char_start : chunk.char_end] == chunk.text
        covered = pages[key][: max(c.char_end for c in chunks)]
        assert rebuilt.split() == covered.split(), key


def test_passages_mode_cuts_each_passage_and_stops_at_the_budget(corpus):
    index, _ = corpus
    hits = _hits(index, [c.chunk_id for c in index.chunks[:6]])
    spans = _builder(index, mode="passages", words_per_passage=120, budget_words=300).spans("any", hits)
    assert [s.n_words for s in spans] == [120, 120, 60]  # the budget cuts the third passage
    assert [(s.doc_id, s.page, s.char_start) for s in spans] == [
        (h.chunk.doc_id, h.chunk.page, h.chunk.char_start) for h in hits[:3]
    ]
    assert all(s.truncated for s in spans) and spans[0].text == " ".join(hits[0].chunk.text.split()[:120])
    whole = passage_spans(hits[:2], words_per_passage=1000, budget_words=1000)
    assert [s.text for s in whole] == [h.chunk.text for h in hits[:2]] and not any(s.truncated for s in whole)


def _find(index: _Index, doc_id: str, phrase: str) -> Chunk:
    return next(c for c in index.chunks if c.doc_id == doc_id and phrase in c.text)


def test_sentences_mode_takes_the_matching_sentence_with_its_neighbours(corpus):
    index, _ = corpus
    target = _find(index, "strubell2019", "V100")
    others = [c for c in index.chunks if c.doc_id != "strubell2019"][:5]
    hits = _hits(index, [others[0].chunk_id, target.chunk_id, *(c.chunk_id for c in others[1:])])
    query = "How many V100 GPUs were used, and for how long?"
    builder = _builder(index, mode="sentences", budget_words=150, neighbours=1, candidates=6)
    spans = builder.spans(query, hits)
    assert sum(s.n_words for s in spans) <= 150
    best = spans[0]
    assert best.doc_id == "strubell2019" and "V100" in best.text  # the match outranks the first-ranked passage
    page = builder.page(best.doc_id, best.page)
    assert page.text[best.char_start : best.char_end].strip() == best.text  # a span is the page's own text
    pieces = [n for n, (a, b, _) in enumerate(page.pieces) if a >= best.char_start and b <= best.char_end]
    matched = [n for n in pieces if "V100" in page.text[page.pieces[n][0] : page.pieces[n][1]]]
    assert matched and len(pieces) >= 2  # the sentence came with at least one neighbour
    alone = _builder(index, mode="sentences", budget_words=150, neighbours=0, candidates=6).spans(query, hits)
    assert alone[0].n_words < best.n_words and "V100" in alone[0].text


def test_sentence_windows_never_overlap_and_the_budget_holds(corpus):
    index, _ = corpus
    hits = _hits(index, [c.chunk_id for c in index.chunks if c.doc_id == "strubell2019"][:8])
    query = "energy consumption carbon emissions training NLP models GPU hours"
    for budget in (40, 200, 1000):
        for neighbours in (0, 1, 2):
            builder = _builder(index, mode="sentences", budget_words=budget, neighbours=neighbours)
            spans = builder.spans(query, hits)
            assert spans and sum(s.n_words for s in spans) <= budget, (budget, neighbours)
            _assert_disjoint(spans)
    big = _builder(index, mode="sentences", budget_words=1000, neighbours=2).spans(query, hits)
    assert sum(s.n_words for s in big) > 600  # a large budget is used, not left empty


def _assert_disjoint(spans: list[ContextSpan]) -> None:
    """Merged: no two spans of one page overlap (touching windows were joined into one span)."""
    by_page: dict[tuple[str, int], list[ContextSpan]] = {}
    for span in spans:
        by_page.setdefault((span.doc_id, span.page), []).append(span)
    for group in by_page.values():
        group.sort(key=lambda s: s.char_start)
        for left, right in zip(group, group[1:], strict=False):
            assert left.char_end <= right.char_start, (left.span_id, right.span_id)


def test_a_budget_below_one_sentence_gives_its_start(corpus):
    index, _ = corpus
    hits = _hits(index, [_find(index, "strubell2019", "V100").chunk_id])
    spans = _builder(index, mode="sentences", budget_words=20, neighbours=1).spans("V100 GPUs", hits)
    assert len(spans) == 1 and spans[0].n_words <= 20


def test_retrieve_context_prints_exactly_what_the_model_read(wattbot, tmp_path, capsys):
    """`retrieve --context` against a real run of the same config: the same span ids, the same word count, and
    the text the server received in the prompt."""
    import json

    from fakes.servers import ScriptedServer
    from fakes.workspace import make_workspace
    from wattbench.cli import main
    from wattbench.data.wattbot import load_questions

    root = make_workspace(wattbot, tmp_path)
    config = (root / "run.toml").read_text().replace("[retrieval]", 'provider = "openai"\nmodel = "m"\n[retrieval]')
    (root / "server.toml").write_text(config + "[task]\ncontext_words = 120\n[generation]\nstream = false\n")
    server = ScriptedServer([])
    try:
        assert main(["run", "--config", str(root / "server.toml"), "--data-dir", str(root / "data"), "--name", "c",
                     "--base-url", server.url, "--quiet", "--limit", "1"]) == 0  # fmt: skip
    finally:
        server.close()
    record = json.loads((root / "runs" / "c" / "results.jsonl").read_text().splitlines()[0])
    question = load_questions(root / "questions.csv")[0]
    capsys.readouterr()
    assert main(["retrieve", question.question, "--context", "--json", "--config", str(root / "server.toml"),
                 "--data-dir", str(root / "data")]) == 0  # fmt: skip
    shown = json.loads(capsys.readouterr().out)
    assert shown["context"] == record["context"] and shown["context_words"] == record["context_words"] <= 120
    assert shown["budget_words"] == 120 and shown["spans"][0]["span_id"] == record["context"][0]
    prompt = server.seen[0][1]["messages"][-1]["content"]
    assert shown["prompt_context"] in prompt
    assert main(["retrieve", question.question, "--context", "--config", str(root / "server.toml"),
                 "--data-dir", str(root / "data")]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "of 120 words" in text and record["context"][0] in text and "--- what the model reads:" in text
