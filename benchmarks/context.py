"""What reaches the model: evidence inside the context word budget, passages against sentence windows.

For each way of building the context (wattbench.retrieval.context) on the WattBot train questions with gold
refs, prints the mean words sent, document recall over the context's spans in order (R@1, R@3, all spans),
MRR of the first span from a gold document, and evidence recall of the whole context (the definition of
wattbench.retrieval.evaluate). Rows, at each budget: the previous and the shipped default, whole passages up to the
budget, sentence windows (neighbours either side x weight of the passage rank), and BM25 over raw 200-word
windows; then each way's mean over the budgets, the figure the default is chosen on.
Run: python benchmarks/context.py [--data-dir DIR] [--config F] [--budgets 150,200,250,360,1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from retrieval import reference_bm25  # noqa: E402  (benchmarks/retrieval.py, beside this file)
from wattbench.config import load_experiment_config  # noqa: E402
from wattbench.data.paths import resolve_data_dir, wattbot_dir  # noqa: E402
from wattbench.data.wattbot import Question, load_questions  # noqa: E402
from wattbench.retrieval.context import ContextBuilder, ContextSettings, ContextSpan, passage_spans  # noqa: E402
from wattbench.retrieval.evaluate import evidence_found  # noqa: E402
from wattbench.retrieval.search import open_retriever  # noqa: E402
from wattbench.tasks.wattbot import context_settings  # noqa: E402


def score(questions: list[Question], contexts: list[list[ContextSpan]]) -> dict[str, float]:
    recall = {1: 0.0, 3: 0.0, 0: 0.0}
    mrr = evidence = 0.0
    for question, spans in zip(questions, contexts):
        gold = {r.lower() for r in question.ref_ids}
        for k in recall:
            found = {s.doc_id.lower() for s in (spans[:k] if k else spans)}
            recall[k] += len(gold & found) / len(gold)
        first = next((n for n, s in enumerate(spans, 1) if s.doc_id.lower() in gold), None)
        mrr += 1 / first if first else 0.0
        evidence += evidence_found(question, [s.text for s in spans])
    n = len(questions)
    words = statistics.mean(sum(s.n_words for s in spans) for spans in contexts)
    return {"words": words, "R@1": recall[1] / n, "R@3": recall[3] / n, "R@all": recall[0] / n,
            "MRR": mrr / n, "Ev": evidence / n}  # fmt: skip


PREVIOUS = ContextSettings("passages", 1000, words_per_passage=120)  # the default before sentence windows: 3 x 120


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--budgets", default="150,200,250,360,1000", help="context word budgets, comma-separated")
    args = parser.parse_args()
    config, _ = load_experiment_config(args.config)
    root = wattbot_dir(resolve_data_dir(args.data_dir))
    questions = [q for q in load_questions(root / "train_QA.csv") if q.ref_ids]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    retriever, _ = open_retriever(config.retrieval, root / "corpus")
    shipped = context_settings(config.task)
    print(f"{len(questions)} train questions with gold refs; shipped context: {shipped}")
    hits = retriever.search_many([q.question for q in questions], k=max(10, shipped.candidates, config.task.top_k))
    reference = reference_bm25(root / "corpus", questions)
    fixed = {
        "previous default (3 x 120)": (PREVIOUS, 3),
        "shipped default": (shipped, shipped.candidates if shipped.mode == "sentences" else config.task.top_k),
    }
    header = f"{'context':<28} {'words':>6} {'R@1':>6} {'R@3':>6} {'R@all':>6} {'MRR':>6} {'Ev':>6}  ms/question"
    print(f"\nas configured\n{header}")
    for name, (settings, k) in fixed.items():
        print_row(name, *evaluate(retriever, settings, questions, [h[:k] for h in hits]))
    totals: dict[str, list[dict[str, float]]] = {}
    for budget in (int(b) for b in args.budgets.split(",")):
        print(f"\nbudget {budget} words\n{header}")
        for name, (settings, k) in ways(budget).items():
            row, took_ms = evaluate(retriever, settings, questions, [h[:k] for h in hits])
            print_row(name, row, took_ms)
            totals.setdefault(name, []).append(row)
        row = score(questions, [passage_spans(h[:5], budget, budget) for h in reference])
        print_row("bm25 raw windows", row)
        totals.setdefault("bm25 raw windows", []).append(row)
    # The default is chosen on this table, never on one budget or one question.
    print(f"\nmean over budgets {args.budgets}")
    print(f"{'context':<28} {'R@1':>6} {'MRR':>6} {'Ev':>6}")
    for name, rows in totals.items():
        mean = {key: statistics.mean(r[key] for r in rows) for key in ("R@1", "MRR", "Ev")}
        print(f"{name:<28} {mean['R@1']:6.3f} {mean['MRR']:6.3f} {mean['Ev']:6.3f}")


def evaluate(retriever, settings: ContextSettings, questions: list[Question], hits: list) -> tuple[dict, float]:
    """(scores, ms per question) of the contexts `settings` builds from each question's `hits`."""
    builder = ContextBuilder(retriever.index, settings)
    started = time.perf_counter()
    contexts = [builder.spans(q.question, h) for q, h in zip(questions, hits)]
    return score(questions, contexts), (time.perf_counter() - started) * 1000 / len(questions)


def ways(budget: int) -> dict[str, tuple[ContextSettings, int]]:
    """name: (settings, passages they start from) of each way the benchmark compares at `budget`."""
    out = {"passages top-5": (ContextSettings("passages", budget, words_per_passage=budget), 5)}
    for neighbours in (0, 1, 2):
        for weight in (0.25, 0.5, 1.0):
            settings = ContextSettings("sentences", budget, neighbours=neighbours, passage_weight=weight)
            out[f"sentences n={neighbours} prior={weight:g}"] = (settings, settings.candidates)
    return out


def print_row(name: str, row: dict[str, float], took_ms: float | None = None) -> None:
    took = "" if took_ms is None else f"  {took_ms:8.1f}"
    print(f"{name:<28} {row['words']:6.0f} {row['R@1']:6.3f} {row['R@3']:6.3f} {row['R@all']:6.3f} "
          f"{row['MRR']:6.3f} {row['Ev']:6.3f}{took}")  # fmt: skip


if __name__ == "__main__":
    main()
