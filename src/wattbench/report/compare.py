"""`wattbench compare A B [C ...]`: whether runs differ, pair by pair, on the questions they share.

Each run is a run dir, a run name under the experiments dir, or a submission CSV. For each pair: the overall
score's difference with its paired-bootstrap interval, a paired permutation p-value, the exact McNemar test on
value correctness, Holm's adjustment over the pairs compared together, a verdict in words and the smallest
difference the shared questions could detect; and, where both runs measured them per question, the paired ratio
of energy (one scope) and of latency. The statistics are in stats/ and scoring/intervals.py; this module finds
the runs, aligns their questions and words the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wattbench.errors import DataError
from wattbench.report.runs import question_energy_by_kind
from wattbench.scoring.intervals import paired_score, score_intervals
from wattbench.scoring.wattbot import Mode, RowScore, score_files
from wattbench.stats.bootstrap import Bootstrap
from wattbench.stats.paired import PairedRatio, holm, paired_ratio

AUTO_SCOPE = "auto"


@dataclass
class Compared:
    """One run as compare reads it: its scored questions and, for a run dir, its per-question figures."""

    name: str
    source: str
    solution: Path
    rows: dict[str, RowScore] = field(default_factory=dict)
    overall: float = math.nan
    interval: list[float] | None = None
    latency_s: dict[str, float] = field(default_factory=dict)
    energy_j: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per scope kind (gpu, cpu), each answered question's energy."""
    headline_scope: str | None = None
    is_run_dir: bool = False


def resolve(
    names: list[str], experiments_dir: Path, solution: Path | None, default_solution: Callable[[], Path]
) -> list[Compared]:
    """Each name as a run dir, a run name under `experiments_dir`, or a submission CSV; names must differ.
    `default_solution` gives the questions to score against when neither --solution nor the run names them."""
    if len(names) < 2:
        raise DataError("compare: give at least two runs (run dirs, run names or submission CSVs)")
    paths = [_path_of(name, experiments_dir) for name in names]
    found = []
    for path in paths:
        if path.is_dir():
            questions = solution or _run_questions(path) or default_solution()
            found.append(Compared(path.name, str(path), questions, is_run_dir=True))
        else:
            label = path.parent.name if path.stem == "submission" else path.stem
            found.append(Compared(label, str(path), solution or default_solution()))
    labels = [c.name for c in found]
    for label in labels:
        if labels.count(label) > 1:
            raise DataError(f"compare: two runs are named '{label}'; give each once (a file's name is its stem)")
    return found


def _path_of(name: str, experiments_dir: Path) -> Path:
    path = Path(name)
    if not path.exists() and (Path(experiments_dir) / name).is_dir():
        path = Path(experiments_dir) / name
    if path.is_dir() and not (path / "submission.csv").is_file():
        raise DataError(f"{path}: no submission.csv; is it a run dir? (run 'wattbench run' to make one)")
    if not path.exists():
        raise DataError(
            f"compare: '{name}' is not a run dir, a run name under {experiments_dir} or a submission CSV; check it"
        )
    return path


def _run_questions(run: Path) -> Path | None:
    """The question file the run was scored against, when it is still where the run read it."""
    from wattbench.store.rundir import RunDir

    summary = RunDir(run).read_summary()
    questions = summary.config.get("questions") if summary is not None else None
    return Path(questions) if questions and Path(questions).is_file() else None


def load(run: Compared, mode: Mode, spec: Bootstrap) -> Compared:
    """Score the run's submission in `mode` and read its per-question latency and energy (run dirs)."""
    submission = Path(run.source) / "submission.csv" if run.is_run_dir else Path(run.source)
    report = score_files(run.solution, submission, mode)
    run.rows = {r.id: r for r in report.rows if not r.missing}
    run.overall = report.overall
    run.interval = score_intervals(report.rows, mode, spec)["overall"]
    if run.is_run_dir:
        _read_records(run)
    return run


def _read_records(run: Compared) -> None:
    from wattbench.store.rundir import RunDir

    directory = RunDir(Path(run.source))
    summary = directory.read_summary()
    run.headline_scope = summary.energy.scope if summary is not None else None
    records = directory.read_results()
    for qid, record in records.items():
        if not record.get("error") and _positive(record.get("latency_s")):
            run.latency_s[qid] = float(record["latency_s"])
    run.energy_j = question_energy_by_kind(list(records.values()))


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def pairs_of(runs: list[Compared], baseline: str | None) -> list[tuple[Compared, Compared]]:
    """Every pair, or each run against `baseline` (baseline first, so the difference is baseline - other)."""
    if baseline is None:
        return [(a, b) for i, a in enumerate(runs) for b in runs[i + 1 :]]
    base = next((r for r in runs if r.name == baseline), None)
    if base is None:
        raise DataError(f"--baseline: '{baseline}' is not one of the runs compared ({', '.join(r.name for r in runs)})")
    return [(base, other) for other in runs if other is not base]


def compare_pair(a: Compared, b: Compared, mode: Mode, spec: Bootstrap, scope: str) -> dict[str, Any]:
    """The pair's figures before the adjustment over pairs (p_adjusted and verdicts are set by `compare`)."""
    shared = [qid for qid in a.rows if qid in b.rows]
    if len(shared) < 2:
        raise DataError(
            f"compare: {a.name} and {b.name} share {len(shared)} scored question(s); compare runs over the same "
            "questions (or pass the --solution both were asked from)"
        )
    out = paired_figures(a.name, a.rows, b.name, b.rows, mode, spec)
    out["latency"] = _ratio(a.latency_s, b.latency_s, shared, spec) if a.is_run_dir and b.is_run_dir else None
    out["energy"], out["energy_note"] = _energy(a, b, shared, spec, scope)
    return out


def paired_figures(
    a: str, rows_a: dict[str, RowScore], b: str, rows_b: dict[str, RowScore], mode: Mode, spec: Bootstrap
) -> dict[str, Any]:
    """The score comparison of A and B (question id → scores each) on the questions both have, as `compare`
    and an ensemble's summary write it; at least 2 questions in common."""
    shared = [qid for qid in rows_a if qid in rows_b]
    result = paired_score([rows_a[q] for q in shared], [rows_b[q] for q in shared], mode, spec)
    return {
        "a": a, "b": b, "n": result.n,
        "only_in_a": sum(1 for q in rows_a if q not in rows_b), "only_in_b": sum(1 for q in rows_b if q not in rows_a),
        "diff": result.diff, spec.key: list(result.interval), "se": result.se, "p_value": result.p_value,
        "mcnemar_p": result.mcnemar_p, "a_only_correct": result.only_a_correct,
        "b_only_correct": result.only_b_correct, "detectable_diff": result.detectable,
        "figures_diff": result.figures,
    }  # fmt: skip


def _ratio(a: dict[str, float], b: dict[str, float], shared: list[str], spec: Bootstrap) -> dict[str, Any] | None:
    both = [q for q in shared if q in a and q in b]
    if len(both) < 2:
        return None
    found: PairedRatio = paired_ratio(np.array([a[q] for q in both]), np.array([b[q] for q in both]), spec)
    return {"n": found.n, "ratio": found.ratio, spec.key: list(found.interval), "p_value": found.p_value}


def _energy(a: Compared, b: Compared, shared: list[str], spec: Bootstrap, scope: str) -> tuple[dict | None, str]:
    """The energy ratio on one scope: the one asked for (an error when a run lacks it), or with `auto` the
    headline scope both runs share (a note, not an error, when they have none in common)."""
    if scope != AUTO_SCOPE:
        for run in (a, b):
            if len(run.energy_j.get(scope, {})) < 2:
                raise DataError(
                    f"compare: {run.name} has no per-question {scope} energy (a submission CSV, or a run that did "
                    f"not measure {scope}); leave out --energy-scope, or compare runs that measured it"
                )
        chosen = scope
    elif not (a.is_run_dir and b.is_run_dir):
        return (
            None,
            "energy needs run dirs (a submission CSV has no per-question energy)"
            if a.is_run_dir or b.is_run_dir
            else "",
        )
    elif a.headline_scope is None or a.headline_scope != b.headline_scope:
        return None, (f"no energy scope in common (headline {a.headline_scope or 'none'} against "
                      f"{b.headline_scope or 'none'}); runs are compared on one scope only")  # fmt: skip
    else:
        chosen = a.headline_scope
    found = _ratio(a.energy_j.get(chosen, {}), b.energy_j.get(chosen, {}), shared, spec)
    if found is None:
        return None, f"fewer than 2 shared questions with {chosen} energy measured in both runs"
    return {"scope": chosen, **found}, ""


def verdict(a: str, b: str, diff: float, p_adjusted: float, alpha: float) -> str:
    if p_adjusted < alpha and diff > 0:
        return f"{a} better"
    if p_adjusted < alpha and diff < 0:
        return f"{b} better"
    return "no detectable difference"


def compare(
    runs: list[Compared], mode: Mode, spec: Bootstrap, baseline: str | None = None, scope: str = AUTO_SCOPE
) -> dict[str, Any]:
    """Every pair, adjusted with Holm over the pairs of this one call (score, energy and latency each apart)."""
    loaded = [load(run, mode, spec) for run in runs]
    pairs = [compare_pair(a, b, mode, spec, scope) for a, b in pairs_of(loaded, baseline)]
    alpha = 1 - spec.level
    for p, adjusted in zip(pairs, holm([p["p_value"] for p in pairs])):
        p["p_adjusted"] = adjusted
        p["verdict"] = verdict(p["a"], p["b"], p["diff"], adjusted, alpha)
    for figure in ("energy", "latency"):
        measured = [p for p in pairs if p[figure] is not None]
        for p, adjusted in zip(measured, holm([p[figure]["p_value"] for p in measured])):
            p[figure]["p_adjusted"] = adjusted
            p[figure]["verdict"] = _ratio_verdict(p["a"], p["b"], p[figure]["ratio"], adjusted, alpha)
    return {
        "mode": mode, "level": spec.level, "bootstrap": spec.describe(), "adjustment": "holm",
        "test": "paired permutation (score, log ratios); exact McNemar (value correctness)",
        "runs": [{"name": r.name, "source": r.source, "n_scored": len(r.rows), "overall": r.overall,
                  spec.key: r.interval} for r in loaded],
        "pairs": pairs,
    }  # fmt: skip


def _ratio_verdict(a: str, b: str, ratio: float, p_adjusted: float, alpha: float) -> str:
    if p_adjusted >= alpha:
        return "no detectable difference"
    return f"{a} lower" if ratio < 1 else f"{b} lower"


def format_comparison(result: dict[str, Any]) -> str:
    """The table `wattbench compare` prints."""
    spec = result["bootstrap"]
    key = f"ci{spec['level'] * 100:g}"
    pairs = result["pairs"]
    lines = [
        f"Paired comparison ({result['mode']} mode): {spec['level'] * 100:g}% BCa bootstrap intervals over the shared "
        f"questions ({spec['resamples']} resamples, seed {spec['seed']}); p-values Holm-adjusted over "
        f"{len(pairs)} pair(s)",
    ]
    for run in result["runs"]:
        interval = run[key]
        shown = f"[{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "(no interval)"
        lines.append(f"  {run['name']:<24} {run['overall']:.4f} {shown}  ({run['n_scored']} questions)")
    for p in pairs:
        lo, hi = p[key]
        lines.append(
            f"{p['a']} - {p['b']}: {p['diff']:+.4f} [{lo:+.4f}, {hi:+.4f}] on {p['n']} shared questions, "
            f"p = {p['p_value']:.4g} (adjusted {p['p_adjusted']:.4g}): {p['verdict']}"
        )
        lines.append(
            f"  value correct only in {p['a']}: {p['a_only_correct']}, only in {p['b']}: {p['b_only_correct']} "
            f"(exact McNemar p = {p['mcnemar_p']:.4g}); smallest difference these questions detect (80% power): "
            f"{p['detectable_diff']:.4f}"
        )
        if p["only_in_a"] or p["only_in_b"]:
            lines.append(f"  left out: {p['only_in_a']} question(s) only {p['a']} answered, {p['only_in_b']} only "
                         f"{p['b']}")  # fmt: skip
        for figure, what in (("energy", "energy per question"), ("latency", "latency per question")):
            found = p[figure]
            if found is None:
                if figure == "energy" and p.get("energy_note"):
                    lines.append(f"  energy: {p['energy_note']}")
                continue
            scope = f"{found['scope'].upper()} " if figure == "energy" else ""
            lo, hi = found[key]
            lines.append(
                f"  {scope}{what}: {p['a']} uses {found['ratio']:.3g}x [{lo:.3g}, {hi:.3g}] of {p['b']}'s "
                f"(geometric mean over {found['n']} questions, adjusted p = {found['p_adjusted']:.4g}): "
                f"{found['verdict']}"
            )
    return "\n".join(lines)
