from __future__ import annotations

import pytest

from wattbench.scoring.values import normalize_value, parse_list, ref_overlap, ref_set, value_matches


@pytest.mark.parametrize(
    ("solution", "submission", "ok"),
    [
        ("4", "4.004", True),  # |d| = 0.004 <= rel 1e-3 * 4.004
        ("4", "4.005", False),  # |d| = 0.005 > 0.004005
        ("0.0005", "0.0014", True),  # absolute tolerance 1e-3 carries small numbers
        ("0.0005", "0.0016", False),
        ("1000", "1001", True),
        ("1000", "1002", False),
        ("4.3", " 4.30 ", True),
        ("64.7", "64.7 GB", False),  # units are not part of the value
        ("ML.ENERGY Benchmark", " ml.energy benchmark ", True),
        ("GPT-3", "GPT-4", False),
        ("1", "1", True),
        ("1", "TRUE", False),  # compared as written: only lenient mode maps booleans
        ("13900", "13,900", False),  # likewise thousands commas
        ("is_blank", "anything", True),  # a blank solution row counts as value-correct
        ("4", "nan", False),  # pandas' text for an empty cell never matches
    ],
)
def test_scalar_values(solution, submission, ok):
    assert value_matches(solution, submission) is ok


@pytest.mark.parametrize(
    ("solution", "submission", "ok"),
    [
        ("[80,90]", "85", True),
        ("[80,90]", "80", True),
        ("[80,90]", "79.9995", True),  # bounds widened by the absolute tolerance
        ("[80,90]", "79.99", False),
        ("[80,90]", "91", False),
        ("[90,80]", "85", True),  # a reversed range is still a range
        ("[80,90]", "[90,80]", True),  # lists compare order-insensitively
        ("[80,90]", "[80.05,90]", True),
        ("[80,90]", "[80,91]", False),
        ("[80,90]", "[80,90,100]", False),
        ("[0.02,0.1]", "0.05", True),
        ("['a','B']", "['b','A']", True),  # categorical lists: case-insensitive strings
        ("['a','b']", "a", False),
        ("[1,2,3]", "2", False),  # only a 2-number solution is a range
        ("{x, Y}", "{y,x}", True),
    ],
)
def test_ranges_and_lists(solution, submission, ok):
    assert value_matches(solution, submission) is ok


def test_parse_list_shapes():
    assert parse_list("[0.02,0.1]") == [0.02, 0.1]
    assert parse_list("['A', 'b']") == ["a", "b"]
    assert parse_list("[a, b]") == ["a", "b"]  # not JSON: split on commas
    assert parse_list("{b, a, a}") == ["a", "b"]
    assert parse_list("4") is None and parse_list("") is None


@pytest.mark.parametrize(
    ("solution", "submission", "score"),
    [
        ("['a']", "['a']", 1.0),
        ("['a','b']", "['A']", 0.5),
        ("['a','b']", "['b','c']", 1 / 3),
        ("['a']", "['z']", 0.0),
        ("is_blank", "is_blank", 1.0),  # is_blank is a token like any id
        ("is_blank", "['a']", 0.0),
        ("", "", 1.0),
        ("['a']", "", 0.0),
        ("luccioni2025b", "['luccioni2025b']", 1.0),  # a bare id is a one-element set
        ('["a", "b"]', "['b','a']", 1.0),
    ],
)
def test_ref_overlap(solution, submission, score):
    assert ref_overlap(solution, submission) == pytest.approx(score, abs=0)


def test_ref_set_falls_back_to_whole_cell_on_bad_json():
    assert ref_set("[a, b") == {"[a, b"}


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("TRUE", "1"),
        ("yes", "1"),
        ("False", "0"),
        ("No", "0"),
        ("13,900", "13900"),
        ("1,234,567.5", "1234567.5"),
        ("1,2", "1,2"),
        ("approximately 40", "40"),
        ("about 5.5", "5.5"),
        ("~13", "13"),
        ("≈ 7", "7"),
        ("more than 40", "40"),
        ("at least 3", "3"),
        ("> 90", "90"),
        ("up to 90%", "90"),
        ("2B", "2000000000"),
        ("1.5K", "1500"),
        ("3 M", "3000000"),
        ("2 billion", "2000000000"),
        ("1T", "1000000000000"),
        ("4.3 million", "4300000"),
        ("80-90", "[80,90]"),
        ("90 - 80", "[80,90]"),
        ("80 to 90", "[80,90]"),
        ("from 0.02 to 0.1", "[0.02,0.1]"),
        ("between 10 and 50", "[10,50]"),
        ("10–50", "[10,50]"),
        ("29-49%", "[29,49]"),
        ("29% to 49%", "[29,49]"),
        ("29%-49%", "[29,49]"),
        ("29 % – 49 %", "[29,49]"),
        ("between 29% and 49%", "[29,49]"),
        ("from 0.5% to 2%", "[0.5,2]"),
        ("-5", "-5"),
        ("GPT-3", "GPT-3"),
        ("is_blank", "is_blank"),
        ("", ""),
        ("over", "over"),
    ],
)
def test_normalize_value(raw, normalised):
    assert normalize_value(raw) == normalised


@pytest.mark.parametrize(
    "cell",
    [
        "['a']",
        "['a','b']",
        '["A", "b"]',
        "[ 'a' ,\t'b' ]",
        "[]",
        "[ ]",
        "['a' 'b']",
        "['a',]",
        "['a\\\\b']",
        "['a\u00a0', 'b']",
        "[\u00a0'a']",
        "['a\nb']",
        "[1, 'a']",
        "['a\"]",
        "[\"a']",
        "['a', ['b']]",
        "[null]",
        "['mixed' , \"quotes\"]",
        "['x'\x1c]",
    ],
)
def test_ref_fast_path_agrees_with_json_path(cell):
    from wattbench.scoring.values import _ref_set_via_json

    assert ref_set(cell) == _ref_set_via_json(cell.strip())
