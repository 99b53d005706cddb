"""The WattBot RAG task: the prompt, constrained JSON output, tolerant parsing, and the submission row.

The model answers in JSON with `answer_value` and `ref_id` first, so a reply cut off by the token limit keeps
them. With llama.cpp a grammar forces that shape, bounds string lengths and allows only the ids of the retrieved
documents as references. Whatever the engine, the raw text is kept and parsed tolerantly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from wattbench.backends.base import GenerationRequest
from wattbench.config import TaskConfig
from wattbench.data.wattbot import FALLBACK_ANSWER, DocumentMeta, Question, is_blank_value
from wattbench.retrieval.context import ContextBuilder, ContextSettings, ContextSpan
from wattbench.retrieval.search import Hit, Retriever
from wattbench.scoring.values import format_number, normalize_value

SYSTEM_PROMPT = (
    "You answer questions about the energy use and environmental impact of AI, using only the documents given. "
    "Reply in JSON. answer_value: the number alone (no unit, no words), a range as [low, high], 1 for true and "
    "0 for false, or a short term; write is_blank if the documents do not answer the question. ref_id: the ids "
    "of the documents that support the answer. answer: a short sentence. explanation: where the answer comes from."
)
JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "answer_value": {"type": ["string", "number", "array"]},
        "ref_id": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "answer": {"type": "string", "maxLength": 60},
        "explanation": {"type": "string", "maxLength": 100},
    },
    "required": ["answer_value", "ref_id", "answer", "explanation"],
}


def answer_grammar(
    doc_ids: list[str],
    answer_chars: int = 60,
    explanation_chars: int = 100,
    think: tuple[str, str] | None = None,
    think_chars: int | None = None,
) -> str:
    """GBNF for the answer JSON: value first, then 1–3 distinct-looking refs from `doc_ids` (or is_blank); with
    `think` (its open and close markers), a thinking block comes first (it may be empty: a model in a thinking
    state opens one anyway), at most `think_chars` characters when given (tasks/wattbot_reasoning.py)."""
    refs = " | ".join(f'"\\"{d}\\""' for d in [*doc_ids, "is_blank"])
    head = ""
    if think is not None:
        start, end = think
        repeat = "*" if think_chars is None else f"{{0,{think_chars}}}"
        body = f'( [^{end[0]}] | "{end[0]}" [^{end[1]}] ){repeat}'
        head = f'root ::= "{start}" {body} "{end}" [ \\n]* answer\n'
    return (
        head
        + rf"""
{"answer" if think is not None else "root"} ::= "{{" ws head "," ws tail ws "}}"
head ::= "\"answer_value\": " value "," ws "\"ref_id\": [" ref ("," ws ref){{0,2}} "]"
tail ::= "\"answer\": " short "," ws "\"explanation\": " long
value ::= number | "[" number "," ws number "]" | short
ref ::= {refs}
number ::= "-"? [0-9]+ ("." [0-9]+)?
short ::= "\"" char{{0,{answer_chars}}} "\""
long ::= "\"" char{{0,{explanation_chars}}} "\""
char ::= [^"\\\x00-\x1f] | "\\" ["\\/nt]
ws ::= " "?
"""
    )


def context_settings(task: TaskConfig) -> ContextSettings:
    """The context a `TaskConfig` asks for."""
    return ContextSettings(
        mode=task.context,
        budget_words=task.context_words,
        words_per_passage=task.words_per_passage,
        neighbours=task.context_neighbours,
        candidates=task.context_candidates,
        passage_weight=task.context_rank_weight,
    )


def first_context(
    retriever: Retriever, builder: ContextBuilder, task: TaskConfig, question: str
) -> tuple[list[Hit], list[ContextSpan]]:
    """(the hits, the spans) a question's first request reads: what `answer_question` builds before any planner
    query or retry (`wattbench retrieve --context` prints it)."""
    k = task.context_candidates if task.context == "sentences" else task.top_k
    hits = retriever.search(question, k=k)
    return hits, builder.spans(question, hits)


def context_block(spans: list[ContextSpan]) -> str:
    """The context spans, each labelled with its document id and page; a cut one ends with an ellipsis."""
    return "\n\n".join(f"[{s.doc_id}] (page {s.page}) {s.text}" + (" …" if s.truncated else "") for s in spans)


def build_request(
    question: Question,
    spans: list[ContextSpan],
    *,
    max_tokens: int,
    temperature: float,
    seed: int | None,
    constrained: bool = True,
    think: tuple[str, str] | None = None,
) -> GenerationRequest:
    unit = question.answer_unit.strip()
    unit_line = f"\nUnit of the answer: {unit}" if unit and not is_blank_value(unit) else ""
    user = f"Documents:\n{context_block(spans)}\n\nQuestion: {question.question}{unit_line}"
    doc_ids = sorted({s.doc_id for s in spans})
    return GenerationRequest(
        messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        grammar=answer_grammar(doc_ids, think=think) if constrained else None,
        json_schema=JSON_SCHEMA if constrained else None,
        request_id=question.id,
    )


PLANNER_PROMPT = (
    "Write up to {n} short search queries, one per line and nothing else, that would find the passages answering "
    "this question in papers about the energy use of AI."
)


def planner_request(question: Question, max_queries: int, seed: int | None) -> GenerationRequest:
    return GenerationRequest(
        messages=[
            {"role": "system", "content": PLANNER_PROMPT.format(n=max_queries)},
            {"role": "user", "content": question.question},
        ],
        max_tokens=24 * max_queries,
        temperature=0.0,
        seed=seed,
        request_id=f"{question.id}:plan",
    )


def parse_queries(text: str, max_queries: int) -> list[str]:
    """The planner's queries: non-empty lines without list markers, at most `max_queries`."""
    lines = (re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip('"') for line in text.splitlines())
    return [line for line in lines if len(line) > 3][:max_queries]


@dataclass
class ParsedAnswer:
    answer_value: str
    ref_ids: list[str]
    answer: str = ""
    explanation: str = ""
    parse_error: str | None = None
    notes: list[str] = field(default_factory=list)
    recovered: bool = False
    """The output was not complete JSON (cut at the token cap, say), but value and refs were read from it."""
    thinking_truncated: bool = False
    """The output ran out while the model was still thinking: no answer came (tasks/wattbot_reasoning.py)."""

    @property
    def parse_status(self) -> str:
        """ok, recovered (incomplete JSON, value and refs read), unparseable (no answer in it: scored blank), or
        thinking_truncated (the budget ran out while thinking: scored blank)."""
        if self.thinking_truncated:
            return "thinking_truncated"
        if self.parse_error is None:
            return "ok"
        return "recovered" if self.recovered else "unparseable"


_VALUE = re.compile(r'"answer_value"\s*:\s*("(?:[^"\\]|\\.)*"|\[[^\]]*\]|-?[\d.]+(?:[eE][-+]?\d+)?|true|false|null)')
_REFS = re.compile(r'"ref_id"\s*:\s*(\[[^\]]*\]?|"[^"]*")')
_TEXT = {key: re.compile(rf'"{key}"\s*:\s*"((?:[^"\\]|\\.)*)') for key in ("answer", "explanation")}


def _value_text(value: object) -> str:
    if value is None:
        return "is_blank"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return format_number(float(value))
    if isinstance(value, list):
        return "[" + ",".join(_value_text(v) for v in value) + "]"
    return str(value).strip()


def _refs(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        text = str(item).strip().strip("[]'\" ")
        if text and text not in out and not is_blank_value(text):
            out.append(text)
    return out


def parse_answer(text: str) -> ParsedAnswer:
    """The model's JSON, or as much of it as can be recovered (value and refs come first, so they survive)."""
    cleaned = re.sub(r"^```(?:json)?|```$", "", text.strip(), flags=re.MULTILINE).strip()
    start = cleaned.find("{")
    if start >= 0:
        try:
            data, _ = json.JSONDecoder().raw_decode(cleaned[start:])
            if isinstance(data, dict) and "answer_value" in data:
                return ParsedAnswer(
                    _value_text(data.get("answer_value")),
                    _refs(data.get("ref_id", [])),
                    str(data.get("answer", "")),
                    str(data.get("explanation", "")),
                )
        except json.JSONDecodeError:
            pass
    value = _VALUE.search(cleaned)
    if value is None:
        return ParsedAnswer("is_blank", [], parse_error="no answer_value in the output")
    try:
        parsed_value = json.loads(value.group(1))
    except json.JSONDecodeError:
        parsed_value = value.group(1).strip('"')
    refs_match = _REFS.search(cleaned)
    refs: list[str] = []
    if refs_match:
        refs = [r for r in re.findall(r'"([^"]+)"', refs_match.group(1)) if not is_blank_value(r)]
    texts = {k: (m.group(1) if (m := pattern.search(cleaned)) else "") for k, pattern in _TEXT.items()}
    return ParsedAnswer(
        _value_text(parsed_value),
        list(dict.fromkeys(refs)),
        texts["answer"],
        texts["explanation"],
        parse_error="output was not complete JSON; value and refs recovered",
        recovered=True,
    )


def normalize_answer_value(value: str, question: Question) -> str:
    """Clean a value before scoring: the scorer's lenient rules, then a unit the question already names."""
    text = value.strip()
    unit = question.answer_unit.strip()
    if unit and not is_blank_value(unit) and text.lower().endswith(unit.lower()) and len(text) > len(unit):
        text = text[: -len(unit)].strip()
    text = normalize_value(text)
    text = re.sub(r"^(?:the|a|an)\s+(?=\S)", "", text, flags=re.IGNORECASE)  # "The ML.ENERGY Benchmark"
    if question.question.lower().startswith("true or false"):
        text = {"true": "1", "false": "0"}.get(text.lower(), text)
    return text


def submission_row(
    question: Question, parsed: ParsedAnswer, metadata: dict[str, DocumentMeta], supporting: str
) -> dict[str, str]:
    """The 9 WattBot columns; a blank answer is written the way the published data writes one."""
    value = normalize_answer_value(parsed.answer_value, question)
    unit = question.answer_unit or "is_blank"
    if is_blank_value(value):
        return {
            "id": question.id,
            "question": question.question,
            "answer": FALLBACK_ANSWER,
            "answer_value": "is_blank",
            "answer_unit": unit,
            "ref_id": "is_blank",
            "ref_url": "is_blank",
            "supporting_materials": "is_blank",
            "explanation": "is_blank",
        }
    refs = [r for r in parsed.ref_ids if r in metadata] or parsed.ref_ids
    urls = [metadata[r].url for r in refs if r in metadata]
    return {
        "id": question.id,
        "question": question.question,
        "answer": parsed.answer or value,
        "answer_value": value,
        "answer_unit": unit,
        "ref_id": "[" + ",".join(f"'{r}'" for r in refs) + "]" if refs else "is_blank",
        "ref_url": "[" + ",".join(f"'{u}'" for u in urls) + "]" if urls else "is_blank",
        "supporting_materials": supporting or "is_blank",
        "explanation": parsed.explanation or "is_blank",
    }
