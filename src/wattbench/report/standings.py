"""Rankings that show ties: each run's score interval, and which runs are not detectably worse than the best.

Runs are ranked only against runs over the same questions: the scored question ids group them (the 41 train
questions, a 282-question test file, a 3-question smoke run), never one long list in which a short run looks
like a noisy long one. Within a group, each run is compared, paired on the shared questions, with the group's
best (scoring/intervals.paired_score); the p-values are Holm-adjusted over those comparisons, and a run whose
adjusted p-value is at least 1 - level is "tied with the best".

The per-question scores are the ones each run stored as it scored itself (results.jsonl, kaggle mode), so no
solution file is needed and each run is scored against its own questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattbench.report.runs import RunInfo, question_energy_by_kind
from wattbench.scoring.intervals import paired_score, score_draws
from wattbench.scoring.wattbot import Mode, RowScore
from wattbench.stats.bootstrap import Bootstrap
from wattbench.stats.paired import holm

BEST, TIED, WORSE = "best", "tied with best", "worse"


@dataclass
class Standing:
    name: str
    question_set: str
    """The group's label: "41 questions" ("41 questions, set 2" where two groups have as many)."""
    n: int
    overall: float
    interval: tuple[float, float] | None
    place: str
    """best, tied with best, or worse; "" for a run alone in its group."""
    p_vs_best: float | None = None
    """Holm-adjusted p-value of the paired comparison with the group's best."""


def record_rows(records: list[dict[str, Any]]) -> list[RowScore]:
    """The kaggle-mode scores a run stored per question; questions without a score (no ground truth, failed
    before scoring, written by a release that did not store them) are left out."""
    rows = []
    for r in records:
        if r.get("value_correct") is None or r.get("ref_score") is None or r.get("na_correct") is None:
            continue
        blank = str(r.get("gt_value") or "").strip().lower() in ("is_blank", "")
        rows.append(
            RowScore(
                id=str(r["id"]),
                value_correct=bool(r["value_correct"]),
                unit_correct=False,
                ref_score=float(r["ref_score"]),
                na_correct=bool(r["na_correct"]),
                solution_blank=blank,
                submission_blank=False,
                missing=False,
                expected_value=str(r.get("gt_value") or ""),
                submitted_value=str(r.get("pred_value") or ""),
                expected_ref="",
                submitted_ref="",
            )
        )
    return rows


_RANKED: dict[tuple, list[Standing]] = {}
"""standings() of the last few sets of runs: one report asks for the same ranking in its table and figures."""


def standings(runs: list[RunInfo], spec: Bootstrap | None = None) -> list[Standing]:
    """Every run with stored per-question scores, grouped by question set, best first in each group."""
    spec = spec or Bootstrap()
    key = (spec, tuple((run.name, str(run.path), len(run.records), run.overall) for run in runs))
    if key not in _RANKED:
        if len(_RANKED) >= 8:
            _RANKED.pop(next(iter(_RANKED)))
        _RANKED[key] = rank_rows({run.name: {r.id: r for r in record_rows(run.records)} for run in runs}, spec)
    return list(_RANKED[key])


def rank_rows(
    by_run: dict[str, dict[str, RowScore]], spec: Bootstrap | None = None, mode: Mode = "kaggle"
) -> list[Standing]:
    """Runs (name → question id → its scores in `mode`) grouped by the questions they were scored on, best first
    in each group, the largest group first."""
    spec = spec or Bootstrap()
    groups: dict[frozenset[str], list[tuple[str, dict[str, RowScore]]]] = {}
    for name, rows in by_run.items():
        if len(rows) >= 2:
            groups.setdefault(frozenset(rows), []).append((name, rows))
    counts = [len(key) for key in groups]
    seen: dict[int, int] = {}
    out: list[Standing] = []
    for key, members in sorted(groups.items(), key=lambda item: (-len(item[0]), sorted(item[0]))):
        seen[len(key)] = seen.get(len(key), 0) + 1
        label = f"{len(key)} questions" + (f", set {seen[len(key)]}" if counts.count(len(key)) > 1 else "")
        out += _rank(label, members, spec, mode)
    return out


def _rank(label: str, members: list[tuple[str, dict[str, RowScore]]], spec: Bootstrap, mode: Mode) -> list[Standing]:
    scored = []
    for name, rows in members:
        ordered = [rows[q] for q in sorted(rows)]
        found = score_draws(ordered, mode, spec)["overall"]
        scored.append((found.point, name, ordered, found.interval(spec.level)))
    scored.sort(key=lambda s: (-s[0], s[1]))
    best = scored[0]
    p_raw = [paired_score(s[2], best[2], mode, spec).p_value for s in scored[1:]]
    p_adj = holm(p_raw) if p_raw else []
    alpha = 1 - spec.level
    out = [Standing(best[1], label, len(best[2]), best[0], best[3], BEST if len(scored) > 1 else "")]
    for (overall, name, ordered, interval), p in zip(scored[1:], p_adj):
        out.append(Standing(name, label, len(ordered), overall, interval, TIED if p >= alpha else WORSE, p))
    return out


def join_names(names: list[str], limit: int = 10) -> str:
    """At most `limit` names and a count of the rest: a campaign's note stays one readable line."""
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def tie_note(items: list[Standing]) -> str:
    """One line per group: how many runs are not detectably worse than its best."""
    lines = []
    for label in dict.fromkeys(s.question_set for s in items):
        group = [s for s in items if s.question_set == label]
        tied = [s.name for s in group if s.place == TIED]
        if len(group) > 1:
            lines.append(f"{label}: {group[0].name} best; {len(tied)} of {len(group) - 1} other run(s) not "
                         f"detectably worse" + (f" ({join_names(tied)})" if tied else ""))  # fmt: skip
    return "; ".join(lines)


def question_energy_j(run: RunInfo, kind: str) -> dict[str, float]:
    """Each answered question's energy on one kind of scope, from the run's stored windows."""
    return question_energy_by_kind(run.records).get(kind, {})


def energy_interval_wh(energy_j: dict[str, float], spec: Bootstrap | None = None) -> tuple[float, float] | None:
    """The 95% BCa interval of the mean energy per question, in Wh, over its questions."""
    import numpy as np

    from wattbench.stats.bootstrap import draws

    if len(energy_j) < 2:
        return None
    spec = spec or Bootstrap()
    values = np.array(list(energy_j.values()), dtype=np.float64).reshape(-1, 1) / 3600.0
    found = draws(values, ["wh"], {"mean": lambda s, n: s["wh"] / n}, spec)["mean"]
    return found.interval(spec.level)


def front_steps(names: list[str], runs: dict[str, RunInfo], kind: str, spec: Bootstrap | None = None) -> list[str]:
    """For each step along an accuracy-energy front (cheapest first): whether the next point is detectably
    better in score and detectably costlier in energy, paired on the questions both answered."""
    import numpy as np

    from wattbench.report.compare import paired_figures
    from wattbench.stats.paired import paired_ratio

    spec = spec or Bootstrap()
    alpha = 1 - spec.level
    out = []
    for cheap, dear in zip(names, names[1:]):
        rows_a = {r.id: r for r in record_rows(runs[dear].records)}
        rows_b = {r.id: r for r in record_rows(runs[cheap].records)}
        if sum(1 for q in rows_a if q in rows_b) < 2:
            out.append(f"{cheap} -> {dear}: no questions in common")
            continue
        score = paired_figures(dear, rows_a, cheap, rows_b, "kaggle", spec)
        e_a, e_b = question_energy_j(runs[dear], kind), question_energy_j(runs[cheap], kind)
        both = [q for q in e_a if q in e_b]
        energy_p = (paired_ratio(np.array([e_a[q] for q in both]), np.array([e_b[q] for q in both]), spec).p_value
                    if len(both) >= 2 else None)  # fmt: skip
        score_real = score["p_value"] < alpha
        energy_real = energy_p is not None and energy_p < alpha
        said = "distinguishable" if score_real and energy_real else (
            "not distinguishable in " + " or ".join(w for w, real in (("score", score_real), ("energy", energy_real))
                                                    if not real))  # fmt: skip
        out.append(f"{cheap} -> {dear}: {said}")
    return out
