from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattbench.data.paths import ENV_VAR, resolve_data_dir, wattbot_dir
from wattbench.data.textio import decode_bytes, read_csv_table
from wattbench.data.wattbot import (
    is_blank_value,
    load_corpus,
    load_document,
    load_metadata,
    load_questions,
    parse_answer_value,
    parse_ref_ids,
)
from wattbench.errors import DataError


def test_decode_bytes_handles_bom_cp1252_and_undefined_bytes():
    assert decode_bytes("\ufeffid,x\n".encode("utf-8")) == ("id,x\n", "utf-8-sig")
    assert decode_bytes("Mélange".encode()) == ("Mélange", "utf-8")
    assert decode_bytes("Mélange – ’".encode("cp1252")) == ("Mélange – ’", "cp1252")
    text, encoding = decode_bytes(b"caf\xe9 \x81")  # 0x81 is undefined in cp1252
    assert (text, encoding) == ("café \x81", "latin-1")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("['chung2025']", ("chung2025",)),
        ('["a","b"]', ("a", "b")),
        ("['wu2021b','patterson2021']", ("wu2021b", "patterson2021")),
        ("[a, b]", ("a", "b")),
        ("luccioni2025b", ("luccioni2025b",)),
        ("is_blank", ()),
        ("", ()),
    ],
)
def test_parse_ref_ids(raw, expected):
    assert parse_ref_ids(raw) == expected


def test_parse_answer_value_kinds():
    assert parse_answer_value("4.3").kind == "number"
    assert parse_answer_value("1").number == 1.0
    span = parse_answer_value("[0.02,0.1]")
    assert (span.kind, span.low, span.high) == ("range", 0.02, 0.1)
    assert parse_answer_value("[90, 80]").low == 80.0
    assert parse_answer_value("['a','b','c']").kind == "list"
    assert parse_answer_value("ML.ENERGY Benchmark").kind == "text"
    assert parse_answer_value("is_blank").kind == "blank"
    assert parse_answer_value("nan").kind == "text"  # the text nan is not a number of the data


@pytest.mark.parametrize(
    "value",
    [
        "",
        "  ",
        "NA",
        "n/a",
        "is_blank",
        "IS_BLANK",
        "Unable to answer with confidence based on the provided documents.",
    ],
)
def test_blank_values(value):
    assert is_blank_value(value)


@pytest.mark.parametrize("value", ["nan", "0", "None", "unable", "N.A."])
def test_non_blank_values(value):
    assert not is_blank_value(value)


def test_real_train_questions(wattbot: Path):
    questions = load_questions(wattbot / "train_QA.csv")
    assert len(questions) == 41
    assert questions[0].id == "q003"  # the BOM is not part of the first column name
    by_id = {q.id: q for q in questions}
    assert by_id["q075"].ref_ids == ("wu2021b", "patterson2021")
    assert by_id["q207"].ref_ids == ("luccioni2025b",)  # a bare id
    assert not by_id["q062"].is_answerable and by_id["q062"].ref_ids == ()
    assert by_id["q078"].value.kind == "range"
    assert by_id["q075"].value.number == 1.0


def test_questions_keep_extra_columns_and_accept_test_files(write_csv):
    solution = write_csv(
        [{"id": "q1", "question": "Q?", "answer_value": "3", "ref_id": "['a']", "Usage": "Public", "Quote": "1"}]
    )
    (q,) = load_questions(solution)
    assert q.extra == {"Usage": "Public", "Quote": "1"}
    test_file = write_csv([{"id": "t1", "question": "Only a question?"}])
    (t,) = load_questions(test_file)
    assert (t.id, t.answer_value, t.ref_ids) == ("t1", "", ())


def test_question_file_errors_name_file_and_row(write_csv):
    with pytest.raises(DataError, match=r"row 3: duplicate id 'q1' \(first at row 2\)"):
        load_questions(write_csv([{"id": "q1", "question": "a"}, {"id": "q1", "question": "b"}]))
    path = write_csv([{"id": "q1", "text": "a"}])
    with pytest.raises(DataError, match=rf"{path}: missing required column 'question'"):
        load_questions(path)
    empty = path.parent / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.csv: file is empty"):
        load_questions(empty)


def test_real_metadata_is_cp1252_and_reads_correctly(wattbot: Path):
    raw = (wattbot / "metadata.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the published file really is not UTF-8
    metadata = load_metadata(wattbot / "metadata.csv")
    assert len(metadata) == 32
    assert metadata["griggs2024"].title.startswith("Mélange")
    assert metadata["patterson2021"].url.startswith("https://arxiv.org/")


def test_real_corpus(wattbot: Path):
    corpus = load_corpus(wattbot / "corpus")
    assert len(corpus) == 32
    assert [d.doc_id for d in corpus] == sorted(d.doc_id for d in corpus)
    assert sum(d.n_image_placeholders for d in corpus) == 280
    patterson = next(d for d in corpus if d.doc_id == "patterson2021")
    assert patterson.pages[0].number == 1 and patterson.url.startswith("https://")
    images = [p for d in corpus for page in d.pages for p in page.paragraphs if p.is_image]
    assert all(p.text.startswith("[Image") or "Image" in p.text for p in images[:20])


def test_corpus_errors(tmp_path: Path):
    with pytest.raises(DataError, match="corpus folder not found"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="no \\*.json documents"):
        load_corpus(tmp_path / "c")
    bad = tmp_path / "c" / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json: not valid JSON"):
        load_document(bad)
    bad.write_text(json.dumps({"document_id": "x"}))
    with pytest.raises(DataError, match="missing field 'sections'"):
        load_document(bad)


def test_data_dir_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    explicit, env, cwd = tmp_path / "explicit", tmp_path / "env", tmp_path / "cwd"
    for d in (explicit, env, cwd / "data"):
        d.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv(ENV_VAR, str(env))
    assert resolve_data_dir(explicit) == explicit
    assert resolve_data_dir(None) == env
    monkeypatch.delenv(ENV_VAR)
    assert resolve_data_dir(None) == Path("data")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"missing \(from \$WATTBENCH_DATA\) does not exist; run 'make data'"):
        resolve_data_dir(None)
    with pytest.raises(DataError, match="no wattbot/ folder"):
        wattbot_dir(explicit)


def test_csv_table_keeps_cells_as_written(write_csv):
    path = write_csv([{"id": "a", "v": ""}, {"id": "b", "v": "NA"}, {"id": "c", "v": " 4 "}])
    table = read_csv_table(path)
    assert [r["v"] for r in table.rows] == ["", "NA", " 4 "]
    assert table.line_numbers == [2, 3, 4]
