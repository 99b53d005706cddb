"""`wattbench index build` and `wattbench retrieve`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from wattbench.cli import app
from wattbench.cli.options import DATA_DIR
from wattbench.progress import StageProgress

index_app = typer.Typer(help="Build and inspect the retrieval index.", no_args_is_help=True)
app.add_typer(index_app, name="index")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _setup(data_dir: Path | None, config: Path | None, index_path: Path | None, **overrides):
    from wattbench.config import load_retrieval_config
    from wattbench.data.paths import resolve_data_dir, wattbot_dir

    flags = {"index_path": "--index", "method": "--method"}
    settings = load_retrieval_config(
        config, {"index_path": str(index_path) if index_path else None, **overrides}, flags
    )
    return settings, wattbot_dir(resolve_data_dir(data_dir)) / "corpus"


@index_app.command("build")
def build_command(
    data_dir: Path = DATA_DIR,
    config: Path = typer.Option(None, "--config", help="TOML/YAML config with a [retrieval] table."),
    index_path: Path = typer.Option(None, "--index", help="Index file (default from config)."),
    force: bool = typer.Option(False, "--force", help="Rebuild from scratch even if nothing changed."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Build the retrieval index, or bring it up to date (only changed documents are re-embedded)."""
    from wattbench.retrieval.index import build_index

    settings, corpus_dir = _setup(data_dir, config, index_path)
    with StageProgress(quiet) as progress:
        report = build_index(settings, corpus_dir, force=force, notify=_stderr, progress=progress)
    typer.echo(
        f"index: {report.action} ({report.reason}); {report.n_chunks} passages from {report.n_documents} documents, "
        f"{report.n_embedded} embedded, {report.seconds:.1f} s → {report.path}"
    )


def _hit_json(hit) -> dict:
    c = hit.chunk
    return {
        "rank": hit.rank,
        "doc_id": c.doc_id,
        "chunk_id": c.chunk_id,
        "page": c.page,
        "score": hit.score,
        "text": c.text,
    }


@app.command()
def retrieve(
    query: str = typer.Argument(None, help="A question to search for."),
    questions: Path = typer.Option(None, "--questions", help="CSV of questions (id + question column)."),
    column: str = typer.Option("question", "--column", help="Question column of --questions."),
    k: int = typer.Option(None, "-k", "--top-k", help="Passages per question (default from config: 5)."),
    method: str = typer.Option(None, "--method", help="hybrid | bm25 | dense (default from config: hybrid)."),
    as_json: bool = typer.Option(False, "--json", help="JSON output (one line per question with --questions)."),
    data_dir: Path = DATA_DIR,
    config: Path = typer.Option(None, "--config", help="TOML/YAML config with a [retrieval] table."),
    index_path: Path = typer.Option(None, "--index", help="Index file (default from config)."),
    context: bool = typer.Option(
        False, "--context", help="Print what the model would read (the config's [task] context), not the passages."
    ),
) -> None:
    """Print the passages retrieved for a question, or for every question of a CSV file; with --context, the
    spans the model would read, their ids and the word count under the configured budget."""
    from wattbench.data.wattbot import load_queries
    from wattbench.errors import WattbenchError
    from wattbench.retrieval.search import open_retriever

    if (query is None) == (questions is None):
        raise WattbenchError("retrieve: give either a question or --questions FILE.csv, not both or neither")
    if k is not None and k < 1:
        raise WattbenchError("-k: must be at least 1")
    queries = load_queries(questions, column) if questions else [("query", query)]
    settings, corpus_dir = _setup(data_dir, config, index_path, method=method)
    with StageProgress() as progress:
        retriever, _ = open_retriever(settings, corpus_dir, notify=_stderr, progress=progress)
    if context:
        _print_context(retriever, queries, config, as_json, bool(questions))
        return
    results = retriever.search_many([text for _, text in queries], k=k)
    for (qid, text), hits in zip(queries, results):
        if as_json and questions:
            typer.echo(json.dumps({"id": qid, "question": text, "results": [_hit_json(h) for h in hits]}))
        elif as_json:
            typer.echo(json.dumps([_hit_json(h) for h in hits]))
        else:
            if questions:
                typer.echo(f"== {qid}: {text}")
            for h in hits:
                snippet = h.chunk.text if len(h.chunk.text) <= 400 else h.chunk.text[:400] + " …"
                typer.echo(f"{h.rank}. {h.chunk.doc_id} p.{h.chunk.page} ({h.chunk.chunk_id}) score {h.score:.4f}")
                typer.echo(f"   {snippet}")


def _print_context(retriever, queries: list[tuple[str, str]], config: Path | None, as_json: bool, many: bool) -> None:
    """Each question's first context, exactly as the prompt holds it (tasks/wattbot.py `first_context`)."""
    from wattbench.config import load_experiment_config
    from wattbench.retrieval.context import ContextBuilder
    from wattbench.tasks.wattbot import context_block, context_settings, first_context

    task = load_experiment_config(config)[0].task
    builder = ContextBuilder(retriever.index, context_settings(task))
    for qid, text in queries:
        _, spans = first_context(retriever, builder, task, text)
        words = sum(s.n_words for s in spans)
        if as_json:
            shown = {"id": qid, "question": text, "mode": task.context, "budget_words": task.context_words,
                     "context_words": words, "context": [s.span_id for s in spans],
                     "spans": [_span_json(s) for s in spans], "prompt_context": context_block(spans)}  # fmt: skip
            typer.echo(json.dumps(shown))
            continue
        typer.echo(f"== {qid + ': ' if many else ''}{text}")
        typer.echo(f"context ({task.context}): {len(spans)} spans, {words} of {task.context_words} words")
        for n, span in enumerate(spans, 1):
            cut = ", cut to the word limit" if span.truncated else ""
            typer.echo(f"{n}. {span.span_id} ({span.n_words} words, score {span.score:.3f}{cut})")
        typer.echo("--- what the model reads:")
        typer.echo(context_block(spans))


def _span_json(span) -> dict:
    return {"span_id": span.span_id, "doc_id": span.doc_id, "page": span.page, "n_words": span.n_words,
            "score": span.score, "truncated": span.truncated, "text": span.text}  # fmt: skip
