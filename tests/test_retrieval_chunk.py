from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from wattbench.config import ConfigError, RetrievalConfig, load_retrieval_config
from wattbench.data.wattbot import load_corpus, load_queries
from wattbench.errors import DataError
from wattbench.retrieval.bm25 import Bm25, tokenize
from wattbench.retrieval.chunk import ChunkSettings, chunk_document, page_texts, repair_hyphenation, split_sentences
from wattbench.retrieval.search import search_text


@pytest.fixture(scope="module")
def corpus(wattbot: Path):
    return load_corpus(wattbot / "corpus")


@pytest.fixture(scope="module")
def chunks(corpus):
    return [c for d in corpus for c in chunk_document(d, ChunkSettings())]


def test_chunks_have_no_pdf_artefacts(chunks):
    text = "\n".join(c.text for c in chunks)
    assert "[Image" not in text  # the 280 image placeholders are dropped
    assert not any("\n" in c.text for c in chunks)  # so no "-\n" join either: white space is collapsed
    assert not re.search("[\ufb00-\ufb06]", text)  # ligatures ("ﬁ") are decomposed
    assert "  " not in text
    assert "consump-tion" not in text and "consumption" in text  # line-end hyphenation joined
    assert "fine-tuning" in text and "GPT-3" in text  # real compounds keep their hyphen


def test_chunk_ids_are_stable_and_unique(corpus, chunks):
    again = [c for d in corpus for c in chunk_document(d, ChunkSettings())]
    assert [(c.chunk_id, c.text) for c in again] == [(c.chunk_id, c.text) for c in chunks]
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    assert chunks[0].chunk_id == f"{chunks[0].doc_id}:p{chunks[0].page}:0"


def test_every_chunk_lies_inside_its_page(corpus):
    settings = ChunkSettings(chunk_words=200, overlap_words=50, min_chunk_words=30)
    for document in corpus:
        pages = dict(page_texts(document))
        by_page: dict[int, list] = {}
        overlapping = pairs = 0
        for c in chunk_document(document, settings):
            assert pages[c.page][c.char_start : c.char_end] == c.text
            assert c.title == document.title and c.doc_id == document.doc_id
            assert 1 <= c.n_words <= settings.chunk_words + settings.min_chunk_words
            by_page.setdefault(c.page, []).append(c)
        for number, page_chunks in by_page.items():
            for first, second in zip(page_chunks, page_chunks[1:]):
                assert first.char_start < second.char_start
                assert pages[number][first.char_end : second.char_start].strip() == ""  # no text falls between
                pairs += 1
                overlapping += second.char_start < first.char_end
            assert page_chunks[-1].char_end == len(pages[number])  # nothing at the end is lost
        # Overlap is whole sentences: only a last sentence longer than the overlap leaves none.
        assert pairs == 0 or overlapping / pairs > 0.6, (document.doc_id, overlapping, pairs)


def test_chunk_size_is_configurable(corpus):
    small = [c for c in chunk_document(corpus[0], ChunkSettings(100, 20, 10))]
    large = [c for c in chunk_document(corpus[0], ChunkSettings(250, 50, 30))]
    assert len(small) > len(large)
    assert max(c.n_words for c in small) <= 110


def test_hyphenation_repair_uses_the_documents_own_words():
    vocabulary = {"obtained", "fine-tuning", "fine", "tuning"}
    text = "we ob-\ntained it by fine-\ntuning GPT-\n3 on pro-\n cessors and 3-\nD"
    assert repair_hyphenation(text, vocabulary) == "we obtained it by fine-tuning GPT-3 on processors and 3-\nD"


def test_sentences_do_not_end_at_abbreviations():
    text = 'Strubell et al. report 284 tCO2e. See Fig. 3 and e.g. Table 2. "Quoted." (J. Dean) Next one.'
    sentences = [text[a:b].strip() for a, b in split_sentences(text)]
    assert sentences == [
        "Strubell et al. report 284 tCO2e.",
        "See Fig. 3 and e.g. Table 2.",
        '"Quoted."',
        "(J. Dean) Next one.",
    ]


def test_bm25_finds_a_rare_term_token_by_token(chunks):
    index = Bm25.build([tokenize(f"{c.title}\n{c.text}") for c in chunks])
    for query in ("Baldy Mesa solar project", "Which solar project is at Mesa Baldy?"):
        best = chunks[int(np.argmax(index.scores(query)))]
        assert best.doc_id == "amazon2023" and "Baldy Mesa" in best.text
    assert not index.scores("zzzz qqqq").any()  # unknown words score nothing rather than failing


def test_bm25_scores_equal_bm25s(chunks):
    import bm25s

    tokens = [tokenize(c.text) for c in chunks[:400]]
    ours = Bm25.build(tokens)
    engine = bm25s.BM25(method="lucene")
    engine.index(tokens, show_progress=False)
    for query in ("energy consumption of training", "carbon carbon emissions", "water"):
        known = [t for t in tokenize(query) if t in engine.vocab_dict]
        np.testing.assert_allclose(ours.scores(query), engine.get_scores(known), atol=1e-5)


def test_tokenize_keeps_decimals_and_drops_stopwords():
    assert tokenize("The WUE was 0.18 L/kWh") == ["wue", "0.18", "l", "kwh"]


def test_true_or_false_marker_is_not_searched():
    assert search_text("True or False: Local inference reduces overhead.", True) == "Local inference reduces overhead."
    assert search_text("True or False?", True) == "True or False?"  # nothing else to search: keep it
    assert search_text("True or False: x", False) == "True or False: x"


def test_retrieval_config_errors_name_the_field(tmp_path: Path):
    bad = tmp_path / "c.toml"
    bad.write_text("[retrieval]\nchunk_words = 'many'\n")
    with pytest.raises(ConfigError, match=r"c.toml: retrieval.chunk_words: Input should be a valid integer"):
        load_retrieval_config(bad)
    bad.write_text("[retrieval]\nchunk_wrods = 100\n")
    with pytest.raises(ConfigError, match=r"retrieval.chunk_wrods: unknown setting; check its spelling"):
        load_retrieval_config(bad)
    bad.write_text("[retrieval]\nchunk_words = 100\nchunk_overlap_words = 100\n")
    with pytest.raises(ConfigError, match="chunk_overlap_words must be smaller"):
        load_retrieval_config(bad)
    good = tmp_path / "c.yaml"
    good.write_text("retrieval:\n  chunk_words: 150\n  method: bm25\n")
    assert load_retrieval_config(good, {"top_k": 7}) == RetrievalConfig(chunk_words=150, method="bm25", top_k=7)
    (tmp_path / "c.ini").write_text("")
    with pytest.raises(ConfigError, match="unknown config format '.ini'"):
        load_retrieval_config(tmp_path / "c.ini")


def test_query_files_errors(write_csv, tmp_path: Path):
    path = write_csv([{"id": "q1", "question": "What?"}])
    assert load_queries(path) == [("q1", "What?")]
    with pytest.raises(DataError, match=r"unknown column 'text' \(columns found: id, question\)"):
        load_queries(path, "text")
    empty = tmp_path / "empty.csv"
    empty.write_text("id,question\n")
    with pytest.raises(DataError, match="no questions"):
        load_queries(empty)
    with pytest.raises(DataError, match="row 2: empty 'question'"):
        load_queries(write_csv([{"id": "q1", "question": " "}]))
