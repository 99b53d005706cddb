"""Structure-aware passages from parsed pages.

The published corpus is page text with PDF artefacts: image placeholders, words hyphenated across line breaks
("ob-\\ntained"), ligatures ("ﬁ"), runs of spaces. Each page is cleaned, split on sentence boundaries and packed
into passages of about `chunk_words` words that overlap by whole sentences. A passage never crosses a page, its
text is a substring of its cleaned page, and its id (`<doc>:p<page>:<n>`) is the same on every rebuild.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from wattbench.data.wattbot import Document

CLEANER_VERSION = 2  # bump when cleaning or splitting changes, so that stored indexes are rebuilt

# A hyphen at a line end. The words around it are read by hand: a regex that starts with the word retries from
# inside every word of the page and costs 50x more.
_LINE_BREAK_HYPHEN = re.compile(r"-[ \t]*\r?\n\s*")
_WORDISH = re.compile(r"[\w-]+", re.UNICODE)
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u200b-\u200d\ufeff]")
# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before white space and a capital,
# digit, opening quote or bracket.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    "e.g i.e et al fig figs eq eqs tab sec no nos vs approx ca cf dr mr ms prof inc ltd co corp jan feb mar apr "
    "jun jul aug sep sept oct nov dec u.s u.k st vol pp p".split()
)


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    page: int
    position: int  # index of the passage within its page
    ordinal: int  # index of the passage within its document
    text: str
    n_words: int
    char_start: int  # offsets into the cleaned page text
    char_end: int


@dataclass(frozen=True)
class ChunkSettings:
    chunk_words: int = 200
    overlap_words: int = 50
    min_chunk_words: int = 30


def _document_vocabulary(raw_pages: list[str]) -> set[str]:
    """Every word and hyphenated compound the document writes outside line-end hyphenation."""
    text = _LINE_BREAK_HYPHEN.sub(" \n", "\n".join(raw_pages)).lower()
    vocabulary: set[str] = set()
    for token in _WORDISH.findall(text):
        vocabulary.add(token)
        if "-" in token:
            vocabulary.update(token.split("-"))
    return vocabulary


def _hyphen_choice(left: str, right: str, vocabulary: set[str]) -> str:
    joined, hyphenated = (left + right).lower(), f"{left}-{right}".lower()
    if joined in vocabulary:
        return left + right
    if hyphenated in vocabulary or right[0].isdigit() or right[0].isupper():
        return f"{left}-{right}"  # a real compound ("fine-tuning", "GPT-3", "GLM-130B")
    return left + right  # a syllable break, the common case in two-column PDFs


def repair_hyphenation(text: str, vocabulary: set[str]) -> str:
    """Join words hyphenated across a line break, unless the document writes them with a hyphen."""
    out: list[str] = []
    done = 0
    for match in _LINE_BREAK_HYPHEN.finditer(text):
        start = match.start()
        while start > done and text[start - 1].isalpha():
            start -= 1
        end = match.end()
        while end < len(text) and text[end].isalnum():
            end += 1
        left, right = text[start : match.start()], text[match.end() : end]
        if not left or not right or (start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_")):
            continue  # not letters before the hyphen ("GPT3-"), or nothing after it
        out.append(text[done:start])
        out.append(_hyphen_choice(left, right, vocabulary))
        done = end
    out.append(text[done:])
    return "".join(out)


def clean_text(text: str, vocabulary: set[str] | None = None) -> str:
    """NFKC (ligatures, non-breaking spaces), line-break hyphenation repaired, white space collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    text = repair_hyphenation(text, vocabulary or set())
    return _SPACES.sub(" ", text).strip()


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in `text`; abbreviations such as "et al." and "Fig." do not end a sentence."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        stop = match.start() + 1
        words = text[start:stop].split()
        before = words[-1].rstrip(".").lstrip("\"'“‘([").lower() if words else ""
        if before in _ABBREVIATIONS or (len(before) == 1 and before.isalpha()):
            continue  # "et al. Smith", "Fig. 3", initials "J. Dean"
        end = match.end()
        spans.append((start, end))
        start = end
    if start < len(text):
        spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _word_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]


def sentence_pieces(text: str, max_words: int) -> list[tuple[int, int, int]]:
    """Sentences as (start, end, words); a sentence longer than `max_words` (a flattened table) is cut by words."""
    pieces: list[tuple[int, int, int]] = []
    for start, end in split_sentences(text):
        n_words = len(text[start:end].split())
        if n_words <= max_words:
            pieces.append((start, end, n_words))
            continue
        words = _word_spans(text, start, end)
        for i in range(0, len(words), max_words):
            window = words[i : i + max_words]
            pieces.append((window[0][0], window[-1][1], len(window)))
    return pieces


def chunk_page(text: str, settings: ChunkSettings) -> list[tuple[int, int, int]]:
    """Pack a cleaned page into (char_start, char_end, n_words) passages that overlap by whole sentences."""
    pieces = sentence_pieces(text, settings.chunk_words)
    spans: list[tuple[int, int, int]] = []
    first = 0
    while first < len(pieces):
        last, words = first, pieces[first][2]
        while last + 1 < len(pieces) and words + pieces[last + 1][2] <= settings.chunk_words:
            last += 1
            words += pieces[last][2]
        spans.append((pieces[first][0], pieces[last][1], words))
        if last + 1 >= len(pieces):
            break
        # Start the next passage with the trailing sentences that fit in the overlap, always moving forward.
        next_first, carried = last + 1, 0
        while next_first - 1 > first and carried + pieces[next_first - 1][2] <= settings.overlap_words:
            next_first -= 1
            carried += pieces[next_first][2]
        first = next_first
    if len(spans) >= 2 and spans[-1][2] < settings.min_chunk_words:
        tail = spans.pop()
        head = spans.pop()
        spans.append((head[0], tail[1], len(_word_spans(text, head[0], tail[1]))))
    return spans


def page_texts(document: Document) -> list[tuple[int, str]]:
    """(page number, cleaned text) of each page, image placeholders dropped."""
    raw = [(page.number, "\n".join(p.text for p in page.paragraphs if not p.is_image)) for page in document.pages]
    vocabulary = _document_vocabulary([text for _, text in raw])
    return [(number, clean_text(text, vocabulary)) for number, text in raw]


def chunk_document(document: Document, settings: ChunkSettings) -> list[Chunk]:
    chunks: list[Chunk] = []
    for number, text in page_texts(document):
        for position, (start, end, words) in enumerate(chunk_page(text, settings)):
            chunks.append(
                Chunk(
                    chunk_id=f"{document.doc_id}:p{number}:{position}",
                    doc_id=document.doc_id,
                    title=document.title,
                    page=number,
                    position=position,
                    ordinal=len(chunks),
                    text=text[start:end],
                    n_words=words,
                    char_start=start,
                    char_end=end,
                )
            )
    return chunks
