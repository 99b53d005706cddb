"""What the model reads: retrieved passages turned into context spans inside a word budget.

Two ways (`task.context`):

- `passages`: the top passages as retrieved, each cut to `words_per_passage` words, until `context_words`.
- `sentences`: structure-aware. The sentences of the top `context_candidates` passages are scored against the
  query (the share of the query's IDF mass a sentence holds, plus a prior from its passage's rank); the best
  sentences are taken with `context_neighbours` sentences either side from their page, windows that overlap or
  touch on one page are merged into one span, and spans are added best first until `context_words` is spent.
  Evidence that sits next to the matching sentence, which a passage cut after its first words loses, comes
  along; passages that merely share a topic word give up their space.

A span's text is a substring of its cleaned page (the page is put back together from the index's passages,
whose offsets point into it), so what the model reads is what the corpus says.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from wattbench.retrieval.bm25 import tokenize
from wattbench.retrieval.chunk import Chunk, sentence_pieces
from wattbench.retrieval.index import LoadedIndex
from wattbench.retrieval.search import Hit

ContextMode = Literal["passages", "sentences"]
MAX_SENTENCE_WORDS = 60  # a longer "sentence" (a flattened table) is matched in pieces of this many words


@dataclass(frozen=True)
class ContextSettings:
    """Defaults as TaskConfig's (chosen in benchmarks/context.py)."""

    mode: ContextMode = "sentences"
    budget_words: int = 250
    words_per_passage: int = 120  # passages mode
    neighbours: int = 1  # sentences mode: sentences either side of a hit
    candidates: int = 10  # sentences mode: passages whose sentences are scored (the caller retrieves them)
    passage_weight: float = 0.25  # sentences mode: weight of the passage's 1/rank against the sentence match


@dataclass(frozen=True)
class ContextSpan:
    """A stretch of one page that goes to the model."""

    doc_id: str
    page: int
    char_start: int  # offsets into the cleaned page text
    char_end: int
    text: str
    n_words: int
    score: float
    truncated: bool = False  # cut to a word limit (passages mode), marked with an ellipsis in the prompt

    @property
    def span_id(self) -> str:
        return f"{self.doc_id}:p{self.page}:{self.char_start}-{self.char_end}"


def _cut(text: str, max_words: int) -> tuple[str, bool]:
    words = text.split()
    return (" ".join(words[:max_words]), True) if len(words) > max_words else (text, False)


def passage_spans(hits: Sequence[Hit], words_per_passage: int, budget_words: int) -> list[ContextSpan]:
    """Today's context: each passage cut to `words_per_passage` words, in rank order, within the budget."""
    spans: list[ContextSpan] = []
    left = budget_words
    for hit in hits:
        if left <= 0:
            break
        text, truncated = _cut(hit.chunk.text, min(words_per_passage, left))
        n_words = len(text.split())
        c = hit.chunk
        spans.append(ContextSpan(c.doc_id, c.page, c.char_start, c.char_end, text, n_words, hit.score, truncated))
        left -= n_words
    return spans


_Window = tuple[tuple[str, int], int, int, float]  # (page key, first piece, last piece, best score)


def _merge(windows: list[_Window], key: tuple[str, int], first: int, last: int, score: float) -> list[_Window]:
    """`windows` with pieces first..last of page `key` added, joined with any window it overlaps or touches."""
    joined = [w for w in windows if w[0] == key and w[1] <= last + 1 and first <= w[2] + 1]
    kept = [w for w in windows if w not in joined]
    lo = min([first, *(w[1] for w in joined)])
    hi = max([last, *(w[2] for w in joined)])
    return [*kept, (key, lo, hi, max([score, *(w[3] for w in joined)]))]


@dataclass
class _Page:
    text: str
    pieces: list[tuple[int, int, int]]  # (start, end, words) of each sentence piece
    tokens: list[frozenset[str]]  # stemmed BM25 tokens of each piece


class ContextBuilder:
    """Sentence-level context for one index; pages and IDF are computed once, on first use."""

    def __init__(self, index: LoadedIndex, settings: ContextSettings) -> None:
        self.index, self.settings = index, settings
        self._page_chunks: dict[tuple[str, int], list[Chunk]] = {}
        for chunk in index.chunks:
            self._page_chunks.setdefault((chunk.doc_id, chunk.page), []).append(chunk)
        self._pages: dict[tuple[str, int], _Page] = {}
        self._idf: dict[str, float] | None = None

    def spans(self, query: str, hits: Sequence[Hit], budget_words: int | None = None) -> list[ContextSpan]:
        """The context for `query` from its `hits`, within `budget_words` (default: the settings' budget)."""
        budget = self.settings.budget_words if budget_words is None else budget_words
        if self.settings.mode == "passages":
            return passage_spans(hits, self.settings.words_per_passage, budget)
        return self._sentence_spans(query, hits, budget)

    # -- pages ---------------------------------------------------------------------------------------------------

    def page(self, doc_id: str, number: int) -> _Page:
        key = (doc_id, number)
        if key not in self._pages:
            text = page_text(self._page_chunks[key])
            pieces = sentence_pieces(text, MAX_SENTENCE_WORDS)
            tokens = [frozenset(tokenize(text[a:b])) for a, b, _ in pieces]
            self._pages[key] = _Page(text, pieces, tokens)
        return self._pages[key]

    def idf(self) -> dict[str, float]:
        if self._idf is None:
            df = Counter(t for tokens in self.index.tokens for t in set(tokens))
            n = len(self.index.tokens)
            self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        return self._idf

    # -- sentences -----------------------------------------------------------------------------------------------

    def _scored_sentences(self, query: str, hits: Sequence[Hit]) -> list[tuple[float, tuple[str, int], int]]:
        """(score, page key, piece index) of every sentence of the candidate passages, each once."""
        idf = self.idf()
        query_tokens = set(tokenize(query))
        mass = sum(idf.get(t, 0.0) for t in query_tokens) or 1.0
        best: dict[tuple[tuple[str, int], int], float] = {}
        for rank, hit in enumerate(hits, start=1):
            key = (hit.chunk.doc_id, hit.chunk.page)
            page = self.page(*key)
            prior = self.settings.passage_weight / rank
            for n, (start, end, _) in enumerate(page.pieces):
                if start >= hit.chunk.char_end or end <= hit.chunk.char_start:
                    continue
                match = sum(idf.get(t, 0.0) for t in query_tokens & page.tokens[n]) / mass
                score = match + prior
                if score > best.get((key, n), -1.0):
                    best[(key, n)] = score
        return sorted(((s, key, n) for (key, n), s in best.items()), key=lambda item: (-item[0], item[1], item[2]))

    def _sentence_spans(self, query: str, hits: Sequence[Hit], budget: int) -> list[ContextSpan]:
        reach = self.settings.neighbours
        scored = self._scored_sentences(query, hits)
        windows: list[_Window] = []
        for score, key, n in scored:
            if any(w[0] == key and w[1] <= n <= w[2] for w in windows):
                continue  # already in the context, as a neighbour of a better sentence
            last_piece = len(self.page(*key).pieces) - 1
            # With its neighbours if they fit, else the sentence alone.
            for first, last in ((max(n - reach, 0), min(n + reach, last_piece)), (n, n)):
                trial = _merge(windows, key, first, last, score)
                if self._words(trial) <= budget:
                    windows = trial
                    break
        if not windows and scored:  # the budget is below the best sentence: its start, cut to the budget
            score, key, n = scored[0]
            return [self._span(key, n, n, score, cut_to=budget)]
        windows.sort(key=lambda w: (-w[3], w[0], w[1]))
        return [self._span(key, first, last, score) for key, first, last, score in windows]

    def _words(self, windows: Sequence[_Window]) -> int:
        return sum(sum(p[2] for p in self.page(*key).pieces[first : last + 1]) for key, first, last, _ in windows)

    def _span(
        self, key: tuple[str, int], first: int, last: int, score: float, cut_to: int | None = None
    ) -> ContextSpan:
        page = self.page(*key)
        start, end = page.pieces[first][0], page.pieces[last][1]
        text = page.text[start:end].strip()
        truncated = False
        if cut_to is not None:
            text, truncated = _cut(text, cut_to)
        return ContextSpan(key[0], key[1], start, end, text, len(text.split()), score, truncated)


def page_text(chunks: Sequence[Chunk]) -> str:
    """A cleaned page put back together from its passages (each is the page's text at its offsets); a gap
    between passages, which holds only the white space between two sentences, becomes as many spaces, so that
    offsets into the page stay offsets into this text."""
    parts: list[str] = []
    cursor = 0
    for chunk in sorted(chunks, key=lambda c: c.char_start):
        if chunk.char_start > cursor:
            parts.append(" " * (chunk.char_start - cursor))
            cursor = chunk.char_start
        if chunk.char_end > cursor:
            parts.append(chunk.text[cursor - chunk.char_start :])
            cursor = chunk.char_end
    return "".join(parts)
