"""Search: BM25, dense, and their fusion, with optional title boost, reranker and document diversity.

Candidates are the top `fusion_depth` passages of each ranking. `linear` fusion (the default) scores them by
(w_bm25 · bm25' + w_dense · cos') / (w_bm25 + w_dense), each score min-max normalised over the candidates, so a
weak dense model moves near-ties without overturning a strong lexical match. `rrf` scores Σ w / (rrf_k + rank).
A document prior (`doc_weight`) adds, to every passage, its whole document's BM25 match with the query
(min-max normalised for linear, by rank for rrf). The title ranking (when `title_weight` > 0) adds
title_weight / (rrf_k + rank of the document's title match). A cross-encoder, when configured, reorders the
top `rerank_depth` fused passages; if it cannot be loaded, the search says so once and goes on without it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattbench.config import RetrievalConfig
from wattbench.errors import WattbenchError
from wattbench.retrieval.bm25 import Bm25, tokenize
from wattbench.retrieval.chunk import Chunk
from wattbench.retrieval.embed import Embedder, embedder_for, resolve_model_location
from wattbench.retrieval.index import BuildReport, LoadedIndex, build_index, load_index

if TYPE_CHECKING:
    import numpy as np

METHODS = ("hybrid", "bm25", "dense")
_QUESTION_MARKERS = re.compile(r"^\s*true\s+or\s+false\s*[:?.\-–]?\s*", re.IGNORECASE)


def search_text(query: str, strip_markers: bool) -> str:
    """The query as searched: "True or False:" says how to answer, not what to find."""
    stripped = _QUESTION_MARKERS.sub("", query) if strip_markers else query
    return stripped or query


@dataclass(frozen=True)
class Hit:
    rank: int
    chunk: Chunk
    score: float
    ranks: dict[str, int] = field(default_factory=dict)  # 1-based rank of this passage in each ranking used


def _top(scores: np.ndarray, depth: int, positive_only: bool) -> list[int]:
    import numpy as np

    depth = min(depth, len(scores))
    if depth == 0:
        return []
    candidates = np.argpartition(-scores, depth - 1)[:depth]
    ordered = candidates[np.lexsort((candidates, -scores[candidates]))]  # ties broken by index: deterministic
    return [int(i) for i in ordered if not positive_only or scores[i] > 0]


class Retriever:
    def __init__(
        self,
        index: LoadedIndex,
        config: RetrievalConfig,
        embedder: Embedder | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.index = index
        self.config = config
        self.notify = notify or (lambda message: None)
        self.bm25 = index.bm25
        self._embedder = embedder
        self._title_doc_ids = sorted(index.titles)
        self._title_bm25: Bm25 | None = None  # built on first use: title boosting is off by default
        self._doc_of = [c.doc_id for c in index.chunks]
        # The document prior's BM25 sees each document as the concatenation of its passages' tokens.
        position = {d: n for n, d in enumerate(sorted(set(self._doc_of)))}
        self._doc_bm25 = index.doc_bm25 if position else None
        self._doc_index_of = [position[d] for d in self._doc_of]
        import numpy as np

        self._doc_index_array = np.asarray(self._doc_index_of, dtype=np.int64)
        self._reranker: Any = None  # a sentence-transformers CrossEncoder, loaded on first use
        self._reranker_failed = False

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            # Queries must be embedded by the model that embedded the passages, whatever the config says now.
            manifest = self.index.manifest
            stored = {"embedder": manifest.get("embedder", self.config.embedder),
                      "embedding_dim": manifest.get("embedding_dim"),
                      # an index from before precisions were recorded was embedded in fp32
                      "embed_precision": manifest.get("embed_precision", "fp32"),
                      "embed_max_tokens": manifest.get("embed_max_tokens")}  # fmt: skip
            self._embedder = embedder_for(self.config.model_copy(update=stored))
        return self._embedder

    def _rankings(
        self, query: str, query_vector: np.ndarray | None, method: str
    ) -> dict[str, tuple[list[int], np.ndarray]]:
        depth = self.config.fusion_depth
        rankings: dict[str, tuple[list[int], np.ndarray]] = {}
        if method in ("hybrid", "bm25"):
            scores = self.bm25.scores(query)
            rankings["bm25"] = (_top(scores, depth, positive_only=True), scores)
        if method in ("hybrid", "dense") and query_vector is not None:
            scores = self.index.vectors @ query_vector
            rankings["dense"] = (_top(scores, depth, positive_only=False), scores)
        return rankings

    def _title_ranks(self, query: str) -> dict[str, int]:
        if self.config.title_weight <= 0 or not self._title_doc_ids:
            return {}
        if self._title_bm25 is None:
            self._title_bm25 = Bm25.build([tokenize(self.index.titles[d]) for d in self._title_doc_ids])
        scores = self._title_bm25.scores(query)
        return {self._title_doc_ids[i]: r for r, i in enumerate(_top(scores, len(scores), True), start=1)}

    def _fuse_rrf(self, rankings, weights, doc_scores, ranks) -> dict[int, float]:
        fused: dict[int, float] = {}
        for name, (order, _) in rankings.items():
            for r, i in enumerate(order, start=1):
                fused[i] = fused.get(i, 0.0) + weights[name] / (self.config.rrf_k + r)
        if doc_scores is not None:
            doc_rank = {d: r for r, d in enumerate(_top(doc_scores, len(doc_scores), True), start=1)}
            for i in fused:
                doc_r = doc_rank.get(self._doc_index_of[i])
                if doc_r is not None:
                    fused[i] += self.config.doc_weight / (self.config.rrf_k + doc_r)
                    ranks[i]["doc"] = r
        return fused

    def _fuse_linear(self, rankings, weights, doc_scores) -> dict[int, float]:
        import numpy as np

        def normalised(values: np.ndarray) -> np.ndarray:
            low, high = values.min(initial=0.0), values.max(initial=0.0)
            return (values - low) / (high - low) if high > low else np.zeros_like(values)

        candidates = np.unique(np.concatenate([np.asarray(order, dtype=np.int64) for order, _ in rankings.values()]))
        total = np.zeros(len(candidates), dtype=np.float64)
        for name, (_, scores) in rankings.items():
            total += weights[name] * normalised(scores[candidates].astype(np.float64))
        weight_sum = sum(weights[name] for name in rankings)
        if doc_scores is not None:
            total += (
                self.config.doc_weight * normalised(doc_scores.astype(np.float64))[self._doc_index_array[candidates]]
            )
            weight_sum += self.config.doc_weight
        return dict(zip(candidates.tolist(), (total / (weight_sum or 1.0)).tolist()))

    def _fuse(
        self, query: str, query_vector: np.ndarray | None, method: str
    ) -> list[tuple[int, float, dict[str, int]]]:
        rankings = self._rankings(query, query_vector, method)
        if method != "hybrid":
            order, scores = rankings[method]
            return [(i, float(scores[i]), {method: r}) for r, i in enumerate(order, start=1)]
        weights = {"bm25": self.config.bm25_weight, "dense": self.config.dense_weight}
        ranks: dict[int, dict[str, int]] = {}
        for name, (order, _) in rankings.items():
            for r, i in enumerate(order, start=1):
                ranks.setdefault(i, {})[name] = r
        doc_bm25 = self._doc_bm25 if self.config.doc_weight > 0 else None
        doc_scores = doc_bm25.scores(query) if doc_bm25 is not None else None
        if self.config.fusion == "rrf":
            fused = self._fuse_rrf(rankings, weights, doc_scores, ranks)
        else:
            fused = self._fuse_linear(rankings, weights, doc_scores)
        title_ranks = self._title_ranks(query)
        for i in fused if title_ranks else ():
            title_r = title_ranks.get(self._doc_of[i])
            if title_r is not None:
                fused[i] += self.config.title_weight / (self.config.rrf_k + title_r)
                ranks[i]["title"] = title_r
        ordered = sorted(fused, key=lambda i: (-fused[i], i))
        return [(i, fused[i], ranks[i]) for i in ordered]

    def _rerank(
        self, query: str, fused: list[tuple[int, float, dict[str, int]]]
    ) -> list[tuple[int, float, dict[str, int]]]:
        if not self.config.reranker or self._reranker_failed or not fused:
            return fused
        if self._reranker is None:
            try:
                from sentence_transformers import CrossEncoder

                self._reranker = CrossEncoder(resolve_model_location(self.config.reranker), device=self.config.device)
            except Exception as exc:  # noqa: BLE001 — a missing reranker must not stop retrieval
                self._reranker_failed = True
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.notify(f"reranker '{self.config.reranker}' could not be loaded ({reason}); continuing without it")
                return fused
        head, tail = fused[: self.config.rerank_depth], fused[self.config.rerank_depth :]
        scores = self._reranker.predict([(query, self.index.chunks[i].text) for i, _, _ in head])
        reranked = sorted(zip(head, scores), key=lambda pair: -float(pair[1]))
        return [(i, float(s), ranks | {"rerank": r}) for r, ((i, _, ranks), s) in enumerate(reranked, 1)] + tail

    def _select(self, ranked: list[tuple[int, float, dict[str, int]]], k: int) -> list[Hit]:
        cap = self.config.max_chunks_per_doc
        per_doc: dict[str, int] = {}
        hits: list[Hit] = []
        for i, score, ranks in ranked:
            doc = self._doc_of[i]
            if cap is not None and per_doc.get(doc, 0) >= cap:
                continue
            per_doc[doc] = per_doc.get(doc, 0) + 1
            hits.append(Hit(rank=len(hits) + 1, chunk=self.index.chunks[i], score=score, ranks=ranks))
            if len(hits) == k:
                break
        return hits

    def search_many(self, queries: Sequence[str], k: int | None = None, method: str | None = None) -> list[list[Hit]]:
        """Search several queries; dense query vectors are computed in one batch."""
        method = method or self.config.method
        if method not in METHODS:
            raise WattbenchError(f"unknown retrieval method '{method}'; use one of: {', '.join(METHODS)}")
        k = k or self.config.top_k
        queries = [search_text(q, self.config.strip_question_markers) for q in queries]
        vectors = self.embedder.embed_queries(queries) if method in ("hybrid", "dense") else None
        results = []
        for n, query in enumerate(queries):
            fused = self._fuse(query, None if vectors is None else vectors[n], method)
            results.append(self._select(self._rerank(query, fused), k))
        return results

    def search(self, query: str, k: int | None = None, method: str | None = None) -> list[Hit]:
        return self.search_many([query], k, method)[0]


def fuse_hit_lists(lists: Sequence[Sequence[Hit]], k: int, rrf_k: int = 60) -> list[Hit]:
    """Reciprocal-rank fusion of several queries' results (query planning), re-ranked 1..k."""
    scores: dict[str, float] = {}
    best: dict[str, Hit] = {}
    for hits in lists:
        for hit in hits:
            key = hit.chunk.chunk_id
            scores[key] = scores.get(key, 0.0) + 1.0 / (rrf_k + hit.rank)
            best.setdefault(key, hit)
    ordered = sorted(scores, key=lambda key: (-scores[key], key))[:k]
    return [
        Hit(rank=r, chunk=best[key].chunk, score=scores[key], ranks={"fused": r}) for r, key in enumerate(ordered, 1)
    ]


def open_retriever(
    config: RetrievalConfig,
    corpus_dir: Path,
    *,
    notify: Callable[[str], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    embedder: Embedder | None = None,
) -> tuple[Retriever, BuildReport]:
    """Build or reuse the index for `corpus_dir`, load it, and return a ready retriever."""
    embedder = embedder or embedder_for(config)  # one model for building and for queries
    report = build_index(config, corpus_dir, embedder=embedder, notify=notify, progress=progress)
    return Retriever(load_index(report.path), config, embedder=embedder, notify=notify), report
