from __future__ import annotations

from pathlib import Path

import pytest

from wattbench.backends.registry import create_backend
from wattbench.data.wattbot import FALLBACK_ANSWER, DocumentMeta, Question
from wattbench.errors import WattbenchError
from wattbench.tasks.wattbot import answer_grammar, normalize_answer_value, parse_answer, submission_row


def test_parse_complete_json_and_fenced_json():
    parsed = parse_answer(
        '```json\n{"answer_value": [80, 90], "ref_id": ["a", "a", "b"], "answer": "x", "explanation": "y"}\n```'
    )
    assert (parsed.answer_value, parsed.ref_ids, parsed.parse_error) == ("[80,90]", ["a", "b"], None)
    assert parse_answer('{"answer_value": true, "ref_id": "c", "answer": "", "explanation": ""}').answer_value == "1"
    assert parse_answer('{"answer_value": null, "ref_id": []}').answer_value == "is_blank"


def test_parse_recovers_value_and_refs_from_truncated_output():
    parsed = parse_answer('{ "answer_value": 4.3, "ref_id": ["patterson2021"],"answer": "4.3} The G')
    assert (parsed.answer_value, parsed.ref_ids) == ("4.3", ["patterson2021"])
    assert parsed.answer == "4.3} The G" and "recovered" in parsed.parse_error
    assert parse_answer("I cannot help").parse_error == "no answer_value in the output"


@pytest.mark.parametrize(
    ("value", "unit", "question", "expected"),
    [
        ("4.3 tCO2e", "tCO2e", "How much?", "4.3"),
        ("13,900", "liters", "How much?", "13900"),
        ("The ML.ENERGY Benchmark", "is_blank", "Which?", "ML.ENERGY Benchmark"),
        ("True", "is_blank", "True or False: x", "1"),
        ("about 40%", "percent", "What share?", "40"),
        ("80-90", "percent", "What range?", "[80,90]"),
    ],
)
def test_normalize_answer_value(value, unit, question, expected):
    assert normalize_answer_value(value, Question(id="q", question=question, answer_unit=unit)) == expected


def test_submission_rows_fill_urls_and_write_blanks_like_the_data():
    question = Question(id="q1", question="How much?", answer_unit="kWh")
    metadata = {"a2020": DocumentMeta("a2020", "A", "https://a.example/a.pdf")}
    parsed = parse_answer('{"answer_value": "1,200", "ref_id": ["a2020"], "answer": "1200 kWh", "explanation": "p. 3"}')
    row = submission_row(question, parsed, metadata, "the passage")
    assert row == {
        "id": "q1",
        "question": "How much?",
        "answer": "1200 kWh",
        "answer_value": "1200",
        "answer_unit": "kWh",
        "ref_id": "['a2020']",
        "ref_url": "['https://a.example/a.pdf']",
        "supporting_materials": "the passage",
        "explanation": "p. 3",
    }
    blank = submission_row(question, parse_answer('{"answer_value": "is_blank", "ref_id": []}'), metadata, "x")
    assert blank["answer"] == FALLBACK_ANSWER and blank["ref_id"] == blank["answer_value"] == "is_blank"


def test_grammar_compiles_and_lists_only_retrieved_documents():
    from llama_cpp import LlamaGrammar

    text = answer_grammar(["chung2025", "li2025b"])
    LlamaGrammar.from_string(text, verbose=False)
    assert '"\\"chung2025\\""' in text and "patterson2021" not in text


def test_backend_registry_errors():
    with pytest.raises(WattbenchError, match=r"unknown backend 'llamacp'.*did you mean 'llamacpp'\?"):
        create_backend("llamacp")
    with pytest.raises(WattbenchError, match="no such GGUF file"):
        create_backend("llamacpp", model="/nowhere/model.gguf")


def test_planner_queries_are_parsed_and_fused():
    from wattbench.retrieval.chunk import Chunk
    from wattbench.retrieval.search import Hit, fuse_hit_lists
    from wattbench.tasks.wattbot import parse_queries

    assert parse_queries("1. GShard CO2e emissions\n- training energy of GShard\n\n* ok\nthird one here", 2) == [
        "GShard CO2e emissions",
        "training energy of GShard",
    ]

    def hit(chunk_id: str, rank: int) -> Hit:
        return Hit(rank=rank, chunk=Chunk(chunk_id, "d", "t", 1, 0, 0, "x", 1, 0, 1), score=0.0)

    fused = fuse_hit_lists([[hit("a", 1), hit("b", 2)], [hit("b", 1), hit("c", 2)]], k=2)
    assert [h.chunk.chunk_id for h in fused] == ["b", "a"] and [h.rank for h in fused] == [1, 2]


def test_every_shipped_config_is_valid():
    from wattbench.config import load_experiment_config
    from wattbench.runs.costs import price_per_1m

    configs = sorted((Path(__file__).parent.parent / "configs").glob("*.toml"))
    assert len(configs) >= 11
    for path in configs:
        config, warnings = load_experiment_config(path)
        assert warnings == [] and config.name, path
    openrouter, _ = load_experiment_config(Path(__file__).parent.parent / "configs" / "openrouter_gpt-4o-mini.toml")
    assert price_per_1m(openrouter.provider, openrouter.model, None, None) == (0.15, 0.60)
