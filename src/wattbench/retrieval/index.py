"""The retrieval index: one embedded SQLite file, rebuilt only when its inputs change.

Tables: `manifest` (what the index was built with: schema, cleaner and tokenizer versions, chunk settings, embedder
id, precision, input length, dimension and passage prefix, corpus hash), `documents` (one row per corpus file with
its sha256), `chunks` (passage text and position, BM25 tokens, float32 vector). A changed setting rebuilds
everything; a changed, added or removed corpus file re-chunks and re-embeds only that document. A file that is not a
valid index (corrupt, another schema, vectors of the wrong size) is reported and rebuilt. Full builds write a new
file and rename it into place, so an interrupted build never leaves a half-built index.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattbench.children import pid_alive
from wattbench.config import RetrievalConfig
from wattbench.data.wattbot import load_document
from wattbench.errors import DataError
from wattbench.retrieval.bedrock_embed import bedrock_model, output_dim
from wattbench.retrieval.bm25 import TOKENIZER_VERSION, Bm25, tokenize
from wattbench.retrieval.chunk import CLEANER_VERSION, Chunk, ChunkSettings, chunk_document
from wattbench.retrieval.embed import Embedder, embedder_for, known_prefixes, resolve_precision

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = 2
Progress = Callable[[str, int, int], None]  # (stage, done, total)
Notify = Callable[[str], None]

_SCHEMA = """
CREATE TABLE manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (source TEXT PRIMARY KEY, doc_id TEXT NOT NULL, sha256 TEXT NOT NULL, title TEXT NOT NULL,
                        url TEXT NOT NULL, n_chunks INTEGER NOT NULL);
CREATE TABLE chunks (chunk_id TEXT PRIMARY KEY, source TEXT NOT NULL, doc_id TEXT NOT NULL, title TEXT NOT NULL,
                     page INTEGER NOT NULL, position INTEGER NOT NULL, ordinal INTEGER NOT NULL, text TEXT NOT NULL,
                     n_words INTEGER NOT NULL, char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
                     tokens TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX chunks_by_source ON chunks(source);
CREATE TABLE bm25 (name TEXT PRIMARY KEY, n_docs INTEGER NOT NULL, vocabulary TEXT NOT NULL, data BLOB NOT NULL,
                   indices BLOB NOT NULL, indptr BLOB NOT NULL);
"""
_LOAD_ORDER = "ORDER BY doc_id, ordinal"  # passages in memory, and BM25 positions, follow this order


def build_settings(config: RetrievalConfig) -> dict[str, Any]:
    """Everything that, when it changes, makes every stored chunk or vector stale."""
    passage_prefix = config.passage_prefix if config.passage_prefix is not None else known_prefixes(config.embedder)[1]
    model = bedrock_model(config.embedder)
    if model is None:  # each is a rebuild when it changes: a local embedder's precision and input length
        api = {"embed_precision": resolve_precision(config.embed_precision, config.device),
               "embed_max_tokens": config.embed_max_tokens}  # fmt: skip
    else:  # an API embedder's output size
        api = {"embedding_dim": output_dim(model, config.embedding_dim)}
    return {
        "schema_version": SCHEMA_VERSION,
        "cleaner_version": CLEANER_VERSION,
        "tokenizer_version": TOKENIZER_VERSION,
        "chunk_words": config.chunk_words,
        "chunk_overlap_words": config.chunk_overlap_words,
        "min_chunk_words": config.min_chunk_words,
        "chunk_header": config.chunk_header,
        "embedder": config.embedder if model is None else f"bedrock:{model}",
        "passage_prefix": passage_prefix,
        **api,
    }


def indexed_text(chunk: Chunk, header: bool) -> str:
    """What BM25 and the embedder see: the passage, headed by its document title when `header` is on."""
    return f"{chunk.title}\n{chunk.text}" if header else chunk.text


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class BuildReport:
    action: str  # reused | built | rebuilt | updated
    reason: str
    path: Path
    n_documents: int = 0
    n_chunks: int = 0
    n_embedded: int = 0
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Stale(Exception):
    """The stored index cannot be used as it is; the message says why."""


def _read_manifest(conn: sqlite3.Connection) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM manifest")}


def _check_existing(path: Path, settings: dict[str, Any]) -> sqlite3.Connection:
    """Open the stored index for an incremental update, or raise _Stale with the reason it must be rebuilt."""
    if not path.exists():
        raise _Stale("no index yet")
    try:
        conn = sqlite3.connect(path)
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("integrity check failed")
        manifest = _read_manifest(conn)
    except sqlite3.DatabaseError as exc:
        raise _Stale(f"{path} is not a valid index ({exc}); rebuilding") from None
    for key, wanted in settings.items():
        if manifest.get(key) != wanted:
            conn.close()
            raise _Stale(f"{key} changed ({manifest.get(key)!r} → {wanted!r}); rebuilding")
    dim = manifest.get("dim")
    bad = conn.execute("SELECT COUNT(*) FROM chunks WHERE length(vector) != ?", (4 * (dim or 0),)).fetchone()[0]
    if not dim or bad:
        conn.close()
        raise _Stale(f"{path} has {bad} vectors of the wrong size; rebuilding")
    return conn


def _corpus_files(corpus_dir: Path) -> dict[str, Path]:
    if not corpus_dir.is_dir():
        raise DataError(f"{corpus_dir}: corpus folder not found; run 'make data' or pass --data-dir")
    files = {p.name: p for p in sorted(corpus_dir.glob("*.json"))}
    if not files:
        raise DataError(f"{corpus_dir}: no *.json documents in the corpus folder; run 'make data'")
    return files


def _insert_documents(
    conn: sqlite3.Connection,
    files: dict[str, Path],
    hashes: dict[str, str],
    config: RetrievalConfig,
    embedder: Embedder,
    progress: Progress | None,
) -> int:
    """Chunk, tokenise and embed `files`, and insert them; returns the number of chunks written."""
    import numpy as np

    settings = ChunkSettings(config.chunk_words, config.chunk_overlap_words, config.min_chunk_words)
    pending: list[tuple[str, Chunk]] = []
    for done, (source, path) in enumerate(files.items(), start=1):
        document = load_document(path)
        chunks = chunk_document(document, settings)
        conn.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?)",
            (source, document.doc_id, hashes[source], document.title, document.url, len(chunks)),
        )
        pending.extend((source, c) for c in chunks)
        if progress:
            progress("chunking", done, len(files))
    texts = [indexed_text(c, config.chunk_header) for _, c in pending]
    embedded = [0]

    def advance(n: int) -> None:
        embedded[0] += n
        if progress:
            progress("embedding", embedded[0], len(texts))

    vectors = embedder.embed_passages(texts, advance) if texts else np.zeros((0, 1), dtype=np.float32)
    # fmt: off
    conn.executemany(
        "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (c.chunk_id, source, c.doc_id, c.title, c.page, c.position, c.ordinal, c.text, c.n_words, c.char_start,
             c.char_end, " ".join(tokenize(text)), vectors[i].astype(np.float32).tobytes())
            for i, ((source, c), text) in enumerate(zip(pending, texts))
        ),
    )
    # fmt: on
    return len(pending)


def _bm25_params(config: RetrievalConfig) -> dict[str, float]:
    return {"k1": config.bm25_k1, "b": config.bm25_b}


def _write_bm25(conn: sqlite3.Connection, config: RetrievalConfig) -> None:
    """(Re)compute the passage and document BM25 from the stored tokens; IDF is global, so always all of it."""
    rows = conn.execute(f"SELECT doc_id, tokens FROM chunks {_LOAD_ORDER}").fetchall()
    passages = [tokens.split() for _, tokens in rows]
    documents: dict[str, list[str]] = {}
    for (doc_id, _), tokens in zip(rows, passages):
        documents.setdefault(doc_id, []).extend(tokens)
    params = _bm25_params(config)
    conn.execute("DELETE FROM bm25")
    for name, token_lists in (("passages", passages), ("documents", [documents[d] for d in sorted(documents)])):
        index = Bm25.build(token_lists, params["k1"], params["b"])
        conn.execute(
            "INSERT INTO bm25 VALUES (?, ?, ?, ?, ?, ?)",
            (
                name,
                index.n_docs,
                json.dumps(index.vocabulary),
                index.data.tobytes(),
                index.indices.tobytes(),
                index.indptr.tobytes(),
            ),
        )
    conn.execute("INSERT OR REPLACE INTO manifest VALUES ('bm25', ?)", (json.dumps(params),))


def _write_manifest(conn: sqlite3.Connection, settings: dict[str, Any], dim: int) -> None:
    rows = conn.execute("SELECT source, sha256 FROM documents ORDER BY source").fetchall()
    corpus_hash = hashlib.sha256("".join(f"{s}:{h}\n" for s, h in rows).encode()).hexdigest()
    values = settings | {"dim": dim, "corpus_sha256": corpus_hash, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    conn.executemany("INSERT OR REPLACE INTO manifest VALUES (?, ?)", ((k, json.dumps(v)) for k, v in values.items()))


def remove_stale_scratch(path: Path) -> list[Path]:
    """Scratch files of builds whose process is gone (killed outright, so its cleanup never ran)."""
    removed = []
    for scratch in path.parent.glob(f"{path.name}.building.*"):
        pid = scratch.name.removeprefix(f"{path.name}.building.").split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            scratch.unlink(missing_ok=True)
            removed.append(scratch)
    return removed


def build_index(
    config: RetrievalConfig,
    corpus_dir: Path,
    *,
    force: bool = False,
    embedder: Embedder | None = None,
    notify: Notify | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Bring the index at `config.index_path` up to date with `corpus_dir`, doing as little work as possible."""
    started = time.perf_counter()
    path = Path(config.index_path)
    files = _corpus_files(Path(corpus_dir))
    hashes = {source: file_sha256(p) for source, p in files.items()}
    settings = build_settings(config)
    model = embedder or embedder_for(config)  # loads its weights only if something needs embedding

    conn = None
    reason = "forced" if force else ""
    if not force:
        try:
            conn = _check_existing(path, settings)
        except _Stale as stale:
            reason = str(stale)
            if path.exists() and notify:
                notify(f"index: {reason}")
    if conn is None:
        n_chunks = _build_new(path, files, hashes, config, settings, model, progress)
        action = "built" if reason in ("no index yet", "forced") else "rebuilt"
        return BuildReport(
            action, reason, path, len(files), n_chunks, n_chunks, list(files), [], time.perf_counter() - started
        )
    try:
        changed, removed, bm25_stale, n_embedded = _update(conn, files, hashes, config, settings, model, progress)
        n_chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    finally:
        conn.close()
    action = "updated" if changed or removed or bm25_stale else "reused"
    why = "up to date"
    if changed or removed:
        why = f"{len(changed)} changed or new, {len(removed)} removed document(s)"
    elif bm25_stale:
        why = "BM25 parameters changed; BM25 recomputed, no re-embedding"
    took_s = time.perf_counter() - started
    return BuildReport(action, why, path, len(files), n_chunks, n_embedded, changed, removed, took_s)


def _build_new(
    path: Path, files: dict[str, Path], hashes: dict[str, str], config: RetrievalConfig, settings: dict[str, Any],
    model: Embedder, progress: Progress | None,
) -> int:  # fmt: skip
    """A whole new index, built in a scratch file and renamed into place; the number of passages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # One scratch file per process: runs started side by side by the local executor may build the same
    # index at once; each builds its own and the last rename wins (the results are the same).
    tmp = path.with_name(f"{path.name}.building.{os.getpid()}")
    remove_stale_scratch(path)
    tmp.unlink(missing_ok=True)
    new = sqlite3.connect(tmp)
    try:
        new.executescript(_SCHEMA)
        n_chunks = _insert_documents(new, files, hashes, config, model, progress)
        _write_manifest(new, settings, model.dim)
        _write_bm25(new, config)
        new.commit()
        new.close()
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C and errors alike: an unfinished index leaves no scratch file behind
        new.close()
        for leftover in (tmp, *tmp.parent.glob(f"{tmp.name}-*")):  # SQLite's -journal / -wal files too
            leftover.unlink(missing_ok=True)
        raise
    return n_chunks


def _update(
    conn: sqlite3.Connection, files: dict[str, Path], hashes: dict[str, str], config: RetrievalConfig,
    settings: dict[str, Any], model: Embedder, progress: Progress | None,
) -> tuple[list[str], list[str], bool, int]:  # fmt: skip
    """Re-embed only changed or new documents, drop removed ones, recompute BM25 when its parameters changed:
    (changed, removed, BM25 was stale, passages embedded)."""
    stored = dict(conn.execute("SELECT source, sha256 FROM documents"))
    changed = {s: files[s] for s in files if stored.get(s) != hashes[s]}
    removed = [s for s in stored if s not in files]
    n_embedded = 0
    bm25_stale = _read_manifest(conn).get("bm25") != _bm25_params(config)
    if changed or removed or bm25_stale:
        with conn:
            for source in [*changed, *removed]:
                conn.execute("DELETE FROM chunks WHERE source = ?", (source,))
                conn.execute("DELETE FROM documents WHERE source = ?", (source,))
            if changed:
                n_embedded = _insert_documents(conn, changed, hashes, config, model, progress)
            _write_manifest(conn, settings, _read_manifest(conn)["dim"])
            _write_bm25(conn, config)
    return sorted(changed), sorted(removed), bm25_stale, n_embedded


@dataclass
class LoadedIndex:
    """An index in memory: chunks in (doc_id, ordinal) order, their BM25 tokens and a (n, dim) vector matrix."""

    path: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    tokens: list[list[str]]
    vectors: np.ndarray
    titles: dict[str, str]  # doc_id → title
    urls: dict[str, str]  # doc_id → url
    bm25: Bm25  # over passages, in `chunks` order
    doc_bm25: Bm25  # over whole documents, in sorted doc_id order


def load_index(path: Path) -> LoadedIndex:
    """Read a built index; a missing or unreadable file is a one-line error saying how to build it."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no retrieval index; build it with 'wattbench index build'")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        manifest = _read_manifest(conn)
        rows = conn.execute(
            "SELECT chunk_id, doc_id, title, page, position, ordinal, text, n_words, char_start, char_end, tokens, "
            f"vector FROM chunks {_LOAD_ORDER}"
        ).fetchall()
        documents = conn.execute("SELECT doc_id, title, url FROM documents").fetchall()
        stored_bm25 = {row[0]: row[1:] for row in conn.execute("SELECT * FROM bm25")}
        conn.close()
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{path}: not a valid index ({exc}); rebuild it with 'wattbench index build --force'") from None
    dim = int(manifest.get("dim", 0))
    chunks = [Chunk(*row[:10]) for row in rows]
    vectors = np.frombuffer(b"".join(row[11] for row in rows), dtype=np.float32)
    if dim == 0 or vectors.size != len(rows) * dim:
        raise DataError(
            f"{path}: vectors do not match the index dimension; rebuild with 'wattbench index build --force'"
        )
    if set(stored_bm25) != {"passages", "documents"} or stored_bm25["passages"][0] != len(rows):
        raise DataError(f"{path}: BM25 data missing or stale; rebuild with 'wattbench index build --force'")

    def bm25(name: str) -> Bm25:
        n_docs, vocabulary, data, indices, indptr = stored_bm25[name]
        return Bm25(
            json.loads(vocabulary),
            np.frombuffer(data, dtype=np.float32),
            np.frombuffer(indices, dtype=np.int32),
            np.frombuffer(indptr, dtype=np.int64),
            n_docs,
        )

    return LoadedIndex(
        path=path,
        manifest=manifest,
        chunks=chunks,
        tokens=[row[10].split() for row in rows],
        vectors=vectors.reshape(len(rows), dim),
        titles={doc_id: title for doc_id, title, _ in documents},
        urls={doc_id: url for doc_id, _, url in documents},
        bm25=bm25("passages"),
        doc_bm25=bm25("documents"),
    )
