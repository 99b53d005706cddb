"""Fill a data dir: copy from a local folder (e.g. ../shared/data) or download from a mirror, checking sha256.

The manifest (`manifest.json` beside this file) lists every published file with its sha256 and size. A local copy
whose checksum differs is kept with a warning (the folder may hold a newer release); a download that differs is
rejected, because a mirror cannot be trusted otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from wattbench.errors import DataError

URL_ENV_VAR = "WATTBENCH_DATA_URL"


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # relative to the data dir, e.g. "wattbot/train_QA.csv"
    sha256: str
    bytes: int


def load_manifest() -> list[ManifestEntry]:
    raw = json.loads(resources.files("wattbench.data").joinpath("manifest.json").read_text(encoding="utf-8"))
    return [ManifestEntry(path=p, sha256=v["sha256"], bytes=v["bytes"]) for p, v in raw["files"].items()]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class FetchReport:
    source: str
    dest: Path
    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _write_atomically(dest: Path, fill) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            fill(handle)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def copy_from_folder(source: Path, dest: Path) -> FetchReport:
    """Copy every manifest file from `source` (laid out as the data dir) into `dest`; skip ones already equal."""
    report = FetchReport(source=str(source), dest=dest)
    for entry in load_manifest():
        src = source / entry.path
        if not src.is_file():
            raise DataError(f"{src}: missing from {source}; that folder is incomplete, fetch with --url instead")
        target = dest / entry.path
        if target.is_file() and target.stat().st_size == src.stat().st_size and sha256_of(target) == sha256_of(src):
            report.unchanged.append(entry.path)
            continue
        with open(src, "rb") as handle:
            _write_atomically(target, lambda out: shutil.copyfileobj(handle, out))
        if sha256_of(target) != entry.sha256:
            report.warnings.append(f"{entry.path}: sha256 differs from the published file (kept the local copy)")
        report.copied.append(entry.path)
    return report


def download(base_url: str, dest: Path, timeout_s: float = 60.0) -> FetchReport:
    """Download every manifest file from `base_url/<path>`; a checksum mismatch is an error and nothing is kept."""
    from wattbench.urls import parse_url

    endpoint = parse_url(base_url.rstrip("/"))
    auth = endpoint.basic_auth()
    report = FetchReport(source=endpoint.shown, dest=dest)
    for entry in load_manifest():
        target = dest / entry.path
        if target.is_file() and sha256_of(target) == entry.sha256:
            report.unchanged.append(entry.path)
            continue
        url = f"{endpoint.shown}/{entry.path}"
        try:
            request = urllib.request.Request(endpoint.join(entry.path), headers=auth)
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 — user-chosen mirror
                payload = response.read()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise DataError(f"{url}: download failed ({exc}); check the mirror URL or your network") from None
        got = hashlib.sha256(payload).hexdigest()
        if got != entry.sha256:
            raise DataError(f"{url}: sha256 {got[:12]}… does not match the published {entry.sha256[:12]}…; not saved")
        _write_atomically(target, lambda out: out.write(payload))
        report.copied.append(entry.path)
    return report


def fetch(dest: Path, source: Path | None = None, base_url: str | None = None) -> FetchReport:
    """Copy from `source` when it exists, else download from `base_url` / $WATTBENCH_DATA_URL."""
    if source is not None and Path(source).is_dir():
        return copy_from_folder(Path(source), Path(dest))
    url = base_url or os.environ.get(URL_ENV_VAR)
    if not url:
        where = f"{source} does not exist and " if source is not None else ""
        raise DataError(
            f"{where}no download mirror is set; pass --url or set ${URL_ENV_VAR} to a folder URL laid out as "
            "wattbot/{train_QA.csv,metadata.csv,corpus/*.json} and energy_score/*.csv (e.g. the unpacked "
            "WattBot 2025 Kaggle data), or copy the files into ./data yourself"
        )
    return download(url, Path(dest))
