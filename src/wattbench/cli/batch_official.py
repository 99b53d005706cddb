"""`wattbench batch ratings`, `batch compare-official` and `batch label`: star ratings (within the batch or against
the published AI Energy Score board), our figures beside the board's, and a run's label."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from wattbench.cli.batch import batch_app
from wattbench.errors import ConfigError, DataError

OUTPUT_DIR = typer.Option(Path("batch_results"), "--output-dir", help="The batch results folder.")
BOARD = typer.Option(None, "--board", help="Board table (.json or leaderboard .csv); default: the packaged one.")


def _rows(output_dir: Path):  # noqa: ANN202 - a list of MasterRow
    from wattbench.report.reasoning import textgen_rows
    from wattbench.store.batch_dir import BatchDir

    results = BatchDir(output_dir)
    if not results.master_csv.exists():
        raise DataError(f"{results.master_csv}: not found; run 'wattbench batch' first or pass --output-dir")
    return textgen_rows(results.read_master())  # a wattbot row's energy per question is not an Energy Score


@batch_app.command("ratings")
def ratings(
    output_dir: Path = OUTPUT_DIR,
    against: str = typer.Option(None, "--against", help="official: rate inside the published board's bands."),
    board_file: Path = BOARD,
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """AI Energy Score star ratings (1-5): within this batch per task and class (the default), or against the
    published board (--against official), with the bounds used."""
    rows = _rows(output_dir)
    if against is not None:
        if against != "official":
            raise ConfigError(f"--against {against}: unknown; the only board to rate against is 'official'")
        return _official(rows, board_file, as_json)
    from wattbench.report.ratings import rate

    report = rate(rows)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    for bounds in report.bounds:
        edges = " | ".join(f"{e:.3f}" for e in bounds.band_edges)
        typer.echo(f"{bounds.task} class {bounds.model_class or '-'}: Wh/1000 queries {edges} (5 stars lowest)")
    for rating in report.ratings:
        typer.echo(
            f"{_stars(rating.stars, rating.stars_range)}  {rating.model_name} '{rating.reasoning_state}' "
            f"{rating.wh_per_1000_queries:.3f}{_interval(rating.wh_ci95)} Wh/1000 queries ({rating.task}, class "
            f"{rating.model_class or '-'})"
        )
    for model, state, why in report.left_out:
        typer.echo(f"not rated: {model} '{state}': {why}")


def _stars(stars: int, stars_range: list[int] | None) -> str:
    """'****' or, when the row's energy interval reaches across a band edge, '3-4 stars'."""
    return f"{stars_range[0]}-{stars_range[1]} stars" if stars_range else f"{'*' * stars:<9}"


def _interval(interval: list[float] | None) -> str:
    return f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""


def _official(rows: list, board_file: Path | None, as_json: bool) -> None:
    from wattbench.data.board import load_board
    from wattbench.report.official import rate_against

    board = load_board(board_file)
    report = rate_against(rows, board)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    typer.echo(f"against the {board.label()} ({board.path}); 5 stars lowest energy")
    for rating in report.ratings:
        edges = " | ".join(f"{e:g}" for e in rating.band_edges)
        typer.echo(f"{_stars(rating.stars, rating.stars_range)}  {rating.model_name} '{rating.reasoning_state}' "
                   f"{rating.wh_per_1000_queries:.3f}{_interval(rating.wh_ci95)} Wh/1000 queries ({rating.group}; "
                   f"bands {edges})")  # fmt: skip
        if rating.note:
            typer.echo(f"       {rating.note}")
    for model, state, why in report.left_out:
        typer.echo(f"not rated: {model} '{state}': {why}")


@batch_app.command("compare-official")
def compare_official(output_dir: Path = OUTPUT_DIR, board_file: Path = BOARD) -> None:
    """For each run whose model is on the board: our Wh/1,000 queries, the board's, the ratio, and the protocol
    differences that explain a gap."""
    from wattbench.data.board import load_board
    from wattbench.report.official import compare

    rows = _rows(output_dir)
    board = load_board(board_file)
    matched, unmatched = compare(rows, board)
    if not matched:
        names = ", ".join(sorted({r.model_name for r in rows})[:4])
        raise DataError(f"{board.path}: none of the {len(rows)} runs is on the board table ({names}); pass "
                        "--board FILE with the board's figures for them")  # fmt: skip
    typer.echo(f"ours beside the {board.label()} ({board.path}), GPU Wh per 1,000 queries")
    typer.echo(f"{'model':<40} {'state':<12} {'ours':>12} {'board':>12} {'ratio':>8}")
    for item in matched:
        ours = "n/a" if item.ours_wh is None else f"{item.ours_wh:,.2f}"
        ratio = "n/a" if item.ratio is None else f"{item.ratio:.3f}"
        typer.echo(f"{item.row.model_name[:40]:<40} {(item.row.reasoning_state or '-')[:12]:<12} {ours:>12} "
                   f"{item.entry.wh_per_1000_queries:>12,.2f} {ratio:>8}")  # fmt: skip
        if item.board_inside is not None:
            lo, hi = item.ours_ci95 or (0.0, 0.0)
            where = "inside" if item.board_inside else "outside"
            typer.echo(f"    the board's figure is {where} our 95% interval across passes [{lo:,.2f}, {hi:,.2f}]")
        else:
            typer.echo("    1 pass: no interval (run with --repeats 3 or more to say whether the board's figure is "
                       "within our noise)")  # fmt: skip
        for difference in item.differences or ["none: same protocol, GPU and answer length"]:
            typer.echo(f"    differs: {difference}")
    for row, why in unmatched:
        typer.echo(f"not compared: {row.model_name} '{row.reasoning_state}': {why}")


@batch_app.command("label")
def label(
    run: str = typer.Argument(..., help="A run folder, its name under individual_runs/, or its run id."),
    output_dir: Path = OUTPUT_DIR,
    board_file: Path = BOARD,
    out: Path = typer.Option(None, "--out", help="Folder for label.svg and label.png (default: the run's folder)."),
) -> None:
    """The run's AI Energy Score-style label as SVG and PNG: model, task, class, GPU Wh per 1,000 queries, stars,
    hardware, date, protocol."""
    from wattbench.data.board import load_board
    from wattbench.report.batch_labels import find_run, label_facts, read_summary
    from wattbench.report.label import write_label
    from wattbench.store.batch_dir import BatchDir

    folder = find_run(run, output_dir)
    summary = read_summary(folder)
    batch = BatchDir(folder.parent.parent)
    rows = batch.read_master() if batch.master_csv.exists() else []
    facts = label_facts(summary, rows, load_board(board_file))
    for path in write_label(facts, out or folder):
        typer.echo(str(path))
    typer.echo(f"{facts.model} '{facts.reasoning_state}': {facts.stars or 'no'} stars ({facts.stars_basis})")
