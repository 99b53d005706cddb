"""One WattBot question through a backend: retrieve, ask, parse, retry, score, and the question's record.

Follow-up requests are decided here: the planner's extra queries, a blank answer asked again with wider retrieval,
a prompt too long for the context (finish reason `context_overflow`) asked again with one passage fewer. Every
request counts against the question's time budget, and a refused key ends the run (AuthError), since every
other question would fail the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from wattbench.backends.base import AuthError, Completion, GenerationRequest
from wattbench.config import ExperimentConfig
from wattbench.data.wattbot import DocumentMeta, Question, is_blank_value
from wattbench.reasoning import ReasoningMode
from wattbench.retrieval.context import ContextBuilder, ContextSpan
from wattbench.retrieval.search import Hit, Retriever, fuse_hit_lists
from wattbench.scoring.wattbot import score_row
from wattbench.tasks.base import Exchange
from wattbench.tasks.wattbot import (
    ParsedAnswer,
    build_request,
    context_settings,
    first_context,
    normalize_answer_value,
    parse_answer,
    parse_queries,
    planner_request,
    submission_row,
)
from wattbench.tasks.wattbot_reasoning import apply_mode, reasoning_fields, run_mode, separate, think_grammar

RETRY_KINDS = ("blank", "overflow", "transport")


class QuestionBudget:
    """One question's time budget (task.question_timeout_s): every request carries the deadline, and no request
    starts once it has passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def spent(self) -> bool:
        return time.monotonic() >= self.deadline

    def ask(self, request: GenerationRequest) -> Exchange[Completion]:
        """One request through the runs loop; a refused key ends the run (every question would fail alike)."""
        if self.spent():
            return Completion(
                error=f"question time budget of {self.seconds:g} s spent (task.question_timeout_s)",
                finish_reason="error",
                attempts=0,
            )
        request.deadline = self.deadline
        completion = (yield [request])[0]
        if completion.error_kind == "auth":
            raise AuthError(completion.error or "the server refused the credentials")
        return completion


@dataclass
class Tally:
    """What one question cost, over all its requests and searches."""

    retrieval_s: float = 0.0
    generation_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    retries: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RETRY_KINDS, 0))
    notes: list[str] = field(default_factory=list)
    usage_unknown: bool = False  # a request's token counts were impossible: the question's totals are unknown

    def add(self, completion: Completion) -> Completion:
        self.usage_unknown = self.usage_unknown or completion.usage_warning is not None
        self.attempts += completion.attempts
        self.retries["transport"] += max(completion.attempts - 1, 0)
        self.notes += completion.notes
        self.generation_s += completion.latency_s
        self.prompt_tokens += completion.prompt_tokens or 0
        self.completion_tokens += completion.completion_tokens or 0
        return completion


class WattBotTask:
    """The WattBot task: an item is a question; its result is the question's record (results.jsonl)."""

    name: ClassVar[str] = "wattbot"
    unit: ClassVar[str] = "questions"

    def __init__(self, retriever: Retriever, config: ExperimentConfig, metadata: dict[str, DocumentMeta]) -> None:
        self.retriever, self.config, self.metadata = retriever, config, metadata
        self.context = ContextBuilder(retriever.index, context_settings(config.task))  # pages cached across items
        gen = config.generation
        self.mode, self.mode_warnings = run_mode(config.model, gen.reasoning, gen.max_tokens,
                                                 gen.reasoning_max_tokens)  # fmt: skip

    def window(self, item: Question) -> str:
        return f"question {item.id}"

    def start(self, item: Question) -> Exchange[dict[str, Any]]:
        return answer_question(item, self.retriever, self.config, self.metadata, self.context, self.mode)

    def failed(self, item: Question, exc: Exception) -> dict[str, Any]:
        return failed_record(item, exc)

    def errors(self, result: dict[str, Any]) -> list[str | None]:
        return [result["error"]]


def answer_question(
    question: Question,
    retriever: Retriever,
    config: ExperimentConfig,
    metadata: dict[str, DocumentMeta],
    context: ContextBuilder,
    mode: ReasoningMode | None = None,
) -> Exchange[dict[str, Any]]:
    """Retrieve, generate, parse; retry a blank answer with wider retrieval and an overflow with less context.
    With a reasoning `mode`, every request carries its switches and the thinking is taken off each answer
    before it is parsed (tasks/wattbot_reasoning.py)."""
    task, gen = config.task, config.generation
    tally, budget = Tally(), QuestionBudget(task.question_timeout_s)
    planned: list[str] = []
    if task.planner_max_queries > 0:  # the plan's tokens and time count in this question's totals
        plan_request = apply_mode(planner_request(question, task.planner_max_queries, gen.seed), mode, gen.max_tokens)
        plan = tally.add((yield from budget.ask(plan_request)))
        plan_text = separate(plan, mode).answer
        planned = parse_queries(plan_text, task.planner_max_queries) if plan.error is None else []

    def retrieve(k: int) -> list[Hit]:
        started = time.perf_counter()
        queries = [question.question, *planned]
        hits = retriever.search(question.question, k=k) if not planned else fuse_hit_lists(
            retriever.search_many(queries, k=k), k
        )  # fmt: skip
        tally.retrieval_s += time.perf_counter() - started
        return hits

    first_k = k = task.context_candidates if task.context == "sentences" else task.top_k
    if planned:
        hits = retrieve(k)
        spans = context.spans(question.question, hits)
    else:  # the same first context `wattbench retrieve --context` shows
        started = time.perf_counter()
        hits, spans = first_context(retriever, context, task, question.question)
        tally.retrieval_s += time.perf_counter() - started
    while True:
        request = build_request(question, spans, max_tokens=gen.max_tokens, temperature=gen.temperature,
                                seed=gen.seed, constrained=gen.constrained, think=think_grammar(mode))  # fmt: skip
        completion = tally.add((yield from budget.ask(apply_mode(request, mode, gen.max_tokens))))
        if completion.error is not None:
            if completion.finish_reason == "context_overflow" and len(spans) > 1 and not budget.spent():
                spans = spans[:-1]  # too long for the window: drop the last (weakest) span
                tally.retries["overflow"] += 1
                continue
            nothing = ParsedAnswer("is_blank", [])
            return question_record(question, nothing, hits, spans, metadata, tally, completion, planned, mode)
        thought = separate(completion, mode)
        if thought.truncated:  # the budget ran out while thinking: no answer came, a failure of its own kind
            cut = ParsedAnswer("is_blank", [], parse_error="the output ended inside the thinking",
                               thinking_truncated=True)  # fmt: skip
            return question_record(question, cut, hits, spans, metadata, tally, completion, planned, mode)
        parsed = parse_answer(thought.answer)
        blank = is_blank_value(normalize_answer_value(parsed.answer_value, question))
        if blank and tally.retries["blank"] < task.max_blank_retries and not budget.spent():
            # Wider retrieval, and a word budget wider by the same share: within the first budget the extra
            # passages would seldom change what the model reads. The same context again is not asked again.
            wider_k = k + task.blank_retry_extra_k
            wider_hits = retrieve(wider_k)
            wider = context.spans(question.question, wider_hits, budget_words=task.context_words * wider_k // first_k)
            if [(s.span_id, s.n_words) for s in wider] != [(s.span_id, s.n_words) for s in spans]:
                tally.retries["blank"] += 1
                k, hits, spans = wider_k, wider_hits, wider
                continue
        return question_record(question, parsed, hits, spans, metadata, tally, completion, planned, mode)


def _scores(question: Question, row: dict[str, str]) -> dict[str, Any]:
    scored = None
    if question.answer_value.strip():
        scored = score_row(question.id, question.answer_value, question.answer_unit, question.ref_id,
                           row["answer_value"], row["answer_unit"], row["ref_id"], mode="kaggle")  # fmt: skip
    return {
        "value_correct": None if scored is None else scored.value_correct,
        "ref_score": None if scored is None else scored.ref_score,
        "na_correct": None if scored is None else scored.na_correct,
        "weighted_score": None if scored is None else scored.weighted,
    }


def question_record(
    question: Question,
    parsed: ParsedAnswer,
    hits: list[Hit],
    spans: list[ContextSpan],
    metadata: dict[str, DocumentMeta],
    tally: Tally,
    last: Completion,
    planned: list[str],
    mode: ReasoningMode | None = None,
) -> dict[str, Any]:
    """The record results.jsonl keeps for the question: prediction, scores, cost, retries, the raw output and
    its thinking."""
    cited = [s for s in spans if s.doc_id in parsed.ref_ids] or spans[:1]
    supporting = " ".join(cited[0].text.split()[:60]) if cited else ""
    row = submission_row(question, parsed, metadata, supporting)
    return {
        **base_record(question, row),
        **_scores(question, row),
        "latency_s": tally.retrieval_s + tally.generation_s,
        "retrieval_s": tally.retrieval_s,
        "generation_s": tally.generation_s,
        "prompt_tokens": None if tally.usage_unknown else tally.prompt_tokens,
        "completion_tokens": None if tally.usage_unknown else tally.completion_tokens,
        "usage_unknown": tally.usage_unknown,
        "finish_reason": last.finish_reason,
        "ttft_s": last.ttft_s,  # of the answering request (a planner's or a retry's are not the answer's)
        "tpot_s": last.tpot_s,
        "retries": sum(tally.retries.values()),
        "retries_by_kind": tally.retries,
        "attempts": tally.attempts,
        "notes": tally.notes,
        "retrieved": [h.chunk.chunk_id for h in hits],
        "context": [s.span_id for s in spans],  # what the model read: <doc>:p<page>:<start>-<end> of cleaned pages
        "context_words": sum(s.n_words for s in spans),
        "planner_queries": planned,
        "raw_output": last.text,
        **reasoning_fields(last, mode, separate(last, mode)),
        "parse_error": parsed.parse_error,
        "parse_status": None if last.error else parsed.parse_status,
        "error": last.error,
        "submission": row,
    }


def base_record(question: Question, row: dict[str, str]) -> dict[str, Any]:
    return {
        "id": question.id,
        "question": question.question,
        "gt_value": question.answer_value,
        "gt_unit": question.answer_unit,
        "gt_ref": question.ref_id,
        "pred_value": row["answer_value"],
        "pred_unit": row["answer_unit"],
        "pred_ref": row["ref_id"],
        "pred_answer": row["answer"],
        "pred_explanation": row["explanation"],
    }


def failed_record(question: Question, exc: Exception) -> dict[str, Any]:
    """The record of a question whose answering raised (a bug or an engine crash): failed, nothing measured."""
    row = submission_row(question, ParsedAnswer("is_blank", []), {}, "")
    return {
        **base_record(question, row),
        "value_correct": None,
        "ref_score": None,
        "na_correct": None,
        "weighted_score": None,
        "latency_s": 0.0,
        "retrieval_s": 0.0,
        "generation_s": 0.0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "finish_reason": "error",
        "retries": 0,
        "retries_by_kind": dict.fromkeys(RETRY_KINDS, 0),
        "attempts": 0,
        "notes": [],
        "retrieved": [],
        "planner_queries": [],
        "raw_output": "",
        "parse_error": None,
        "parse_status": None,
        "error": f"{type(exc).__name__}: {exc}",
        "submission": row,
    }
