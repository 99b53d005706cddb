from __future__ import annotations

import csv
import io
import os
from pathlib import Path

# Tests never reach a model hub: a model that is not on disk must fail at once, not after network retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A local ray.init() would otherwise turn token auth on and leave ~/.ray/auth_token in the user's home.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import pytest

from wattbench.data.paths import resolve_data_dir, wattbot_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data dir (`make test` fills ./data and sets $WATTBENCH_DATA)."""
    return resolve_data_dir(None).resolve()  # absolute: a test that changes directory must not move it


@pytest.fixture(scope="session")
def wattbot(data_dir: Path) -> Path:
    return wattbot_dir(data_dir)


def csv_text(rows: list[dict[str, str]], columns: list[str] | None = None) -> str:
    columns = columns or list(rows[0])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return out.getvalue()


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write rows as a CSV file; `encoding` may be 'utf-8-sig' or 'cp1252' to test the published encodings."""
    counter = iter(range(1_000_000))

    def write(
        rows: list[dict[str, str]], columns: list[str] | None = None, encoding: str = "utf-8", name: str | None = None
    ) -> Path:
        path = tmp_path / (name or f"file{next(counter)}.csv")
        path.write_bytes(csv_text(rows, columns).encode(encoding))
        return path

    return write


_REPO_INDEX = Path(__file__).resolve().parent.parent / "artifacts" / "index" / "wattbot.sqlite"


def _index_state() -> tuple[int, int] | None:
    return (_REPO_INDEX.stat().st_mtime_ns, _REPO_INDEX.stat().st_size) if _REPO_INDEX.exists() else None


def pytest_sessionstart(session) -> None:
    session.config._repo_index_state = _index_state()


def pytest_sessionfinish(session, exitstatus) -> None:
    # Tests keep their indexes in temp dirs. One that writes the checkout's own index builds the full corpus
    # (minutes of CI time) and changes a developer's files: fail the session.
    if _index_state() != session.config._repo_index_state:
        print(f"\nA test created or changed {_REPO_INDEX}; give it an index_path in its temp dir.")
        session.exitstatus = 1
