"""Token-level BM25 (the bm25s package) with English stopwords and Snowball stemming.

Queries are matched token by token, never as an exact phrase, so "What is the PUE of Google's data centres?"
finds passages that mention PUE and data centres in any order.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from wattbench.errors import WattbenchError

if TYPE_CHECKING:
    import numpy as np

TOKENIZER_VERSION = 1  # bump when tokenisation changes, so that stored token lists are rebuilt
# Decimal numbers stay whole ("0.18", "4.3"): values are what WattBot questions ask for.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+", re.UNICODE)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    try:
        from bm25s.stopwords import STOPWORDS_EN
    except ImportError:
        raise WattbenchError("BM25 needs bm25s; pip install 'wattbench[rag]'") from None
    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import Stemmer
    except ImportError:
        raise WattbenchError("BM25 stemming needs PyStemmer; pip install 'wattbench[rag]'") from None
    return Stemmer.Stemmer("english")


def content_words(text: str) -> list[str]:
    """Lower-cased word and number tokens without stopwords, unstemmed."""
    stop = _stopwords()
    return [t for t in _TOKEN.findall(unicodedata.normalize("NFKC", text).lower()) if t not in stop]


def tokenize(text: str) -> list[str]:
    """BM25 tokens: content words, stemmed."""
    return _stemmer().stemWords(content_words(text))


class Bm25:
    """BM25 scores over pre-tokenised passages, as bm25s computes them ("lucene" variant).

    bm25s builds the per-token score lists once; they are kept as three arrays (CSC layout: for token t, the
    passages `indices[indptr[t]:indptr[t+1]]` with scores `data[...]`) that the index stores, so loading needs no
    rebuild, and a query's score is a sum over its tokens' lists.
    """

    def __init__(
        self, vocabulary: dict[str, int], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n_docs: int
    ) -> None:
        self.vocabulary = vocabulary
        self.data, self.indices, self.indptr, self.n_docs = data, indices, indptr, n_docs

    @classmethod
    def build(cls, token_lists: Sequence[list[str]], k1: float = 1.5, b: float = 0.75) -> Bm25:
        import bm25s
        import numpy as np

        engine = bm25s.BM25(k1=k1, b=b, method="lucene")
        # bm25s cannot index a passage with no tokens; a placeholder keeps positions aligned and matches nothing.
        engine.index([tokens or ["\x00"] for tokens in token_lists], show_progress=False)
        scores = engine.scores
        return cls(
            dict(engine.vocab_dict),
            np.asarray(scores["data"], dtype=np.float32),
            np.asarray(scores["indices"], dtype=np.int32),
            np.asarray(scores["indptr"], dtype=np.int64),
            int(scores["num_docs"]),
        )

    def scores_for_tokens(self, tokens: Sequence[str]) -> np.ndarray:
        import numpy as np

        ids = [self.vocabulary[t] for t in tokens if t in self.vocabulary]
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32)
        spans = [(self.indptr[i], self.indptr[i + 1]) for i in ids]  # a repeated query token counts again
        docs = np.concatenate([self.indices[a:z] for a, z in spans])
        weights = np.concatenate([self.data[a:z] for a, z in spans])
        return np.bincount(docs, weights=weights, minlength=self.n_docs).astype(np.float32)

    def scores(self, query: str) -> np.ndarray:
        return self.scores_for_tokens(tokenize(query))
