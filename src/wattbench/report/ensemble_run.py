"""An ensemble as a run dir: read the member runs, decide, write submission.csv, results.jsonl and a scored
summary.json, so the matrix, the audit and the report treat it like any other run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from wattbench.data.textio import read_csv_table
from wattbench.data.wattbot import QUESTION_COLUMNS, load_questions
from wattbench.errors import DataError
from wattbench.report.ensemble import ensemble, summary_of
from wattbench.report.ensemble_summary import ensemble_record, ensemble_run_summary
from wattbench.scoring.intervals import with_intervals
from wattbench.scoring.wattbot import MODES, score_files
from wattbench.store.compat import results_json, seed_view
from wattbench.store.paths import not_a_run_dir, run_dir_path
from wattbench.store.rundir import RunDir, write_atomically
from wattbench.store.schema import QuestionRecord, RunSummary


def resolve_run(name_or_path: str, experiments_dir: Path) -> Path:
    """A run given by name (a dir under `experiments_dir`) or by path; it must hold a submission.csv."""
    candidates = [Path(name_or_path), Path(experiments_dir) / name_or_path]
    for path in candidates:
        if (path / "submission.csv").exists():
            return path
    raise DataError(f"run '{name_or_path}': no submission.csv in {candidates[0]} or {candidates[1]}")


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    """question id → submission row, cells as written."""
    table = read_csv_table(path)
    table.require("id", "answer_value", "ref_id")
    return {row["id"].strip(): row for row in table.rows}


def run_ensemble(
    runs: list[str],
    name: str,
    *,
    experiments_dir: Path,
    strategy: str = "majority",
    ignore_blank: bool = False,
    solution: Path | None = None,
    calibration: Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write `<experiments_dir>/<name>/` and return its summary (scored against `solution` when given)."""
    out = RunDir(run_dir_path(experiments_dir, name, "--name"))  # before anything else reads or writes
    paths = [resolve_run(r, experiments_dir) for r in runs]
    names = [p.name for p in paths]
    _check_target(out, paths, name, force)
    started = time.perf_counter()
    run_rows = {n: read_rows(p / "submission.csv") for n, p in zip(names, paths)}
    calib = read_rows(calibration) if calibration else (read_rows(solution) if solution else None)
    decisions = ensemble(run_rows, strategy, ignore_blank=ignore_blank, calibration=calib)
    questions = {q.id: q for q in load_questions(solution)} if solution is not None else {}
    member_records = [RunDir(p).read_results() for p in paths]
    member_summaries = [_summary_of(RunDir(p)) for p in paths]
    records = [ensemble_record(d, questions.get(d.id), [m.get(d.id) for m in member_records]) for d in decisions]
    out.path.mkdir(parents=True, exist_ok=True)
    out.results_jsonl.unlink(missing_ok=True)
    for record, decision in zip(records, decisions):
        submitted = {c: decision.row.get(c, "") for c in QUESTION_COLUMNS}
        out.append_result(QuestionRecord.of({**record, "submission": submitted}, str(out.results_jsonl)))
    submission = out.write_submission(
        [{c: d.row.get(c, "") for c in QUESTION_COLUMNS} for d in decisions], QUESTION_COLUMNS
    )
    scores: dict[str, Any] = {}
    if solution is not None:
        for mode in MODES:
            try:
                scores[mode] = with_intervals(score_files(solution, submission, mode, only_submitted=True)).to_dict()
            except DataError as exc:
                scores[mode] = {"error": str(exc)}
    summary = ensemble_run_summary(name, names, member_summaries, records, scores, time.perf_counter() - started)
    if solution is not None and "overall" in scores.get("kaggle", {}):
        summary["vs_best_member"] = against_best_member(solution, submission, dict(zip(names, paths)))
    summary.update(
        created_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        members=names,
        strategy=strategy,
        ignore_blank=ignore_blank,
        calibration=str(calibration or solution) if strategy == "confidence" else None,
        ensemble=summary_of(decisions, len(names)),
    )
    summary = RunSummary.of(seed_view(summary), str(out.summary_json)).dump()
    out.write_json("summary.json", summary)
    out.write_json("results.json", results_json(records))
    _write_log(out, summary, list(zip(names, paths)))
    return summary


def against_best_member(solution: Path, submission: Path, members: dict[str, Path]) -> dict[str, Any] | None:
    """The ensemble against its best member (kaggle mode, on the questions both answered), paired: does
    combining the runs beat the best of them, or is the gain inside the noise?"""
    from wattbench.report.compare import paired_figures, verdict
    from wattbench.stats.bootstrap import Bootstrap

    spec = Bootstrap()
    own = {r.id: r for r in score_files(solution, submission, "kaggle", only_submitted=True).rows if not r.missing}
    best: tuple[float, str, dict] | None = None
    for name, path in members.items():
        try:
            report = score_files(solution, path / "submission.csv", "kaggle", only_submitted=True)
        except DataError:
            continue  # a member the metric rejects is not the best member
        rows = {r.id: r for r in report.rows if not r.missing and r.id in own}
        if len(rows) >= 2 and (best is None or report.overall > best[0]):
            best = (report.overall, name, rows)
    if best is None:
        return None
    out = paired_figures("ensemble", own, best[1], best[2], "kaggle", spec)
    out["member"] = best[1]
    out["verdict"] = verdict("ensemble", best[1], out["diff"], out["p_value"], 1 - spec.level)
    return out


def _check_target(out: RunDir, paths: list[Path], name: str, force: bool) -> None:
    """Refuse a member given twice, an ensemble over one of its members, or over something not ours."""
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise DataError(f"--experiments: a run is given twice ({', '.join(names)})")
    if out.path.exists() and any(out.path.iterdir()):
        if not force:
            raise DataError(f"{out.path} already exists; pick another --name or pass --force")
        why = not_a_run_dir(out.path)
        if why:
            raise DataError(f"--force: {out.path} is not a wattbench run dir ({why}); pick another --name")
    if out.path.resolve() in [p.resolve() for p in paths]:
        raise DataError(f"--name {name}: the ensemble would overwrite one of its own runs")


def _summary_of(run: RunDir) -> dict[str, Any]:
    summary = run.read_summary()
    return summary.dump() if summary is not None else {}


def _write_log(out: RunDir, summary: dict[str, Any], members: list[tuple[str, Path]]) -> None:
    """A run.log like a run's: what was combined, how, and the score."""
    at, score = summary["created_at"], ((summary.get("scores") or {}).get("kaggle") or {}).get("overall")
    blank = ", ignore blank" if summary["ignore_blank"] else ""
    write_atomically(
        out.path / "run.log",
        f"[{at}] INFO: ensemble {summary['name']} ({summary['strategy']}{blank}) of "
        f"{', '.join(f'{n} ({p})' for n, p in members)}\n"
        f"[{at}] INFO: {summary['num_questions']} questions, {summary['ensemble']['unanimous']} unanimous; "
        f"overall {'n/a' if score is None else f'{score:.4f}'} (kaggle)\n",
    )
