"""Retrieval quality and cost on the WattBot train questions: BM25, dense and hybrid.

Prints document recall@1/3/5/10, MRR and evidence recall@5 for each method (definitions in
wattbench.retrieval.evaluate), then index build time and peak memory, index load time, and query latency
p50/p95 per method.
Run: python benchmarks/retrieval.py [--data-dir DIR] [--config F] [--index PATH] [--rebuild]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wattbench.config import load_retrieval_config  # noqa: E402
from wattbench.data.paths import resolve_data_dir, wattbot_dir  # noqa: E402
from wattbench.data.wattbot import load_corpus, load_questions  # noqa: E402
from wattbench.retrieval.bm25 import Bm25, tokenize  # noqa: E402
from wattbench.retrieval.chunk import Chunk  # noqa: E402
from wattbench.retrieval.embed import embedder_for  # noqa: E402
from wattbench.retrieval.evaluate import score_retrieval  # noqa: E402
from wattbench.retrieval.index import build_index, load_index  # noqa: E402
from wattbench.retrieval.search import METHODS, Hit, Retriever, _top  # noqa: E402


def reference_bm25(corpus_dir: Path, questions) -> list[list[Hit]]:
    """The reference setup the issue quotes: BM25 over raw page text in 200-word windows (overlap 50), with no
    cleaning, no title header and the question as asked. Shows what wattbench's chunker and query handling add."""
    windows: list[Chunk] = []
    for document in load_corpus(corpus_dir):
        for page in document.pages:
            words = " ".join(p.text for p in page.paragraphs if not p.is_image).split()
            for n, start in enumerate(range(0, max(len(words) - 50, 1), 150)):
                text = " ".join(words[start : start + 200])
                if text:
                    windows.append(
                        Chunk(
                            f"{document.doc_id}:{page.number}:{n}",
                            document.doc_id,
                            document.title,
                            page.number,
                            n,
                            n,
                            text,
                            len(text.split()),
                            0,
                            0,
                        )
                    )
    index = Bm25.build([tokenize(w.text) for w in windows])
    return [
        [Hit(rank=r, chunk=windows[i], score=0.0) for r, i in enumerate(_top(index.scores(q.question), 10, True), 1)]
        for q in questions
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--index", help="index file (default: the config's)")
    parser.add_argument("--rebuild", action="store_true", help="time a full build from scratch")
    parser.add_argument("--set", action="append", default=[], help="override a retrieval setting: key=value")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    if args.index:
        overrides["index_path"] = args.index
    config = load_retrieval_config(args.config, overrides)
    root = wattbot_dir(resolve_data_dir(args.data_dir))
    questions = [q for q in load_questions(root / "train_QA.csv") if q.ref_ids]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"config: {config.model_dump(exclude={'index_path'})}")

    embedder = embedder_for(config)
    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = build_index(config, root / "corpus", force=args.rebuild, embedder=embedder)
    rss_after_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"index: {report.action} in {report.seconds:.1f} s, {report.n_chunks} passages; "
        f"peak RSS {rss_after_mb:.0f} MB (was {rss_before_mb:.0f} MB before the build)"
    )

    started = time.perf_counter()
    index = load_index(report.path)
    retriever = Retriever(index, config, embedder=embedder)
    print(f"index load + BM25 build: {time.perf_counter() - started:.3f} s")
    retriever.search("warm-up query about energy", method="hybrid")  # loads the embedder once, outside the timings

    print(f"\n{len(questions)} train questions with gold refs")
    print(f"{'method':<8} {'R@1':>6} {'R@3':>6} {'R@5':>6} {'R@10':>6} {'MRR':>6} {'Ev@5':>6}   p50 ms  p95 ms")
    ref = score_retrieval(questions, reference_bm25(root / "corpus", questions))
    print(
        f"{'bm25-ref':<8} {ref.doc_recall[1]:6.3f} {ref.doc_recall[3]:6.3f} {ref.doc_recall[5]:6.3f} "
        f"{ref.doc_recall[10]:6.3f} {ref.mrr:6.3f} {ref.evidence_recall:6.3f}   (raw 200-word windows)"
    )
    for method in METHODS:
        results, latencies = [], []
        for q in questions:
            start = time.perf_counter()
            results.append(retriever.search(q.question, k=10, method=method))
            latencies.append((time.perf_counter() - start) * 1000)
        s = score_retrieval(questions, results)
        p95 = statistics.quantiles(latencies, n=20)[18]
        print(
            f"{method:<8} {s.doc_recall[1]:6.3f} {s.doc_recall[3]:6.3f} {s.doc_recall[5]:6.3f} "
            f"{s.doc_recall[10]:6.3f} {s.mrr:6.3f} {s.evidence_recall:6.3f}   {statistics.median(latencies):6.1f}"
            f"  {p95:6.1f}"
        )


if __name__ == "__main__":
    main()
