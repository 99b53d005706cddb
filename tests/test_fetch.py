from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from wattbench.cli import main
from wattbench.data.fetch import URL_ENV_VAR, fetch, load_manifest
from wattbench.errors import DataError


@pytest.fixture
def mirror(data_dir: Path, tmp_path: Path):
    """A real HTTP server on 127.0.0.1 serving a copy of the data dir."""
    root = tmp_path / "mirror"
    shutil.copytree(data_dir, root)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_manifest_covers_the_data_files():
    paths = {e.path for e in load_manifest()}
    assert {"wattbot/train_QA.csv", "wattbot/metadata.csv", "energy_score/prompts.csv"} <= paths
    assert sum(p.startswith("wattbot/corpus/") for p in paths) == 32


def test_copy_from_folder_is_idempotent_and_warns_on_changed_files(data_dir: Path, tmp_path: Path):
    dest = tmp_path / "data"
    first = fetch(dest, source=data_dir)
    assert len(first.copied) == len(load_manifest()) and not first.warnings
    assert (dest / "wattbot" / "train_QA.csv").read_bytes() == (data_dir / "wattbot" / "train_QA.csv").read_bytes()
    again = fetch(dest, source=data_dir)
    assert again.copied == [] and len(again.unchanged) == len(load_manifest())
    changed = tmp_path / "changed"
    shutil.copytree(data_dir, changed)
    (changed / "wattbot" / "train_QA.csv").write_text("id,question\nq1,x\n")
    report = fetch(dest, source=changed)
    assert report.copied == ["wattbot/train_QA.csv"]
    assert report.warnings == ["wattbot/train_QA.csv: sha256 differs from the published file (kept the local copy)"]


def test_download_checks_sha256(mirror, tmp_path: Path):
    root, url = mirror
    dest = tmp_path / "downloaded"
    report = fetch(dest, source=tmp_path / "no-such-folder", base_url=url)
    assert len(report.copied) == len(load_manifest())
    assert (dest / "wattbot" / "corpus" / "amazon2023.json").stat().st_size > 0
    (root / "wattbot" / "metadata.csv").write_bytes(b"id,title,url\nevil,x,y\n")
    (dest / "wattbot" / "metadata.csv").unlink()
    with pytest.raises(DataError, match=r"metadata.csv: sha256 .* does not match the published .*; not saved"):
        fetch(dest, base_url=url)
    assert not (dest / "wattbot" / "metadata.csv").exists()
    assert not list((dest / "wattbot").glob(".metadata.csv.*"))  # no partial file left behind


def test_download_failure_and_no_mirror_are_one_line_errors(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv(URL_ENV_VAR, raising=False)
    with pytest.raises(DataError, match="no download mirror is set; pass --url or set \\$WATTBENCH_DATA_URL"):
        fetch(tmp_path / "d", source=tmp_path / "absent")
    with pytest.raises(DataError, match="download failed"):
        fetch(tmp_path / "d", base_url="http://127.0.0.1:9/nothing")  # port 9 (discard) is closed here
    assert main(["data", "fetch", "--from", str(tmp_path / "absent"), "--dest", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_fetch(data_dir: Path, tmp_path: Path, capsys):
    assert main(["data", "fetch", "--from", str(data_dir), "--dest", str(tmp_path / "d")]) == 0
    assert f"{len(load_manifest())} file(s) written" in capsys.readouterr().out
