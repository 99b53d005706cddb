"""What reasoning buys: a `--workload wattbot` batch read as one table and one figure.

Per model, each of its states against its Off state (else its lowest measured one), paired on the questions
both answered (report/compare.py: the score difference with its paired-bootstrap interval and Holm-adjusted
p-value over the model's comparisons, the per-question energy ratio with its interval), beside reasoning tokens
and latency per question. A model with one state has no comparison and says so. The figure: accuracy against
energy per question, one marker per (model, state), each model's states joined from Off to its highest effort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.report.compare import compare, resolve
from wattbench.stats.bootstrap import Bootstrap
from wattbench.store.batch_dir import BatchDir
from wattbench.store.schema import MasterRow

ORDER = {"off": 0, "off (n/a)": 0, "on (low)": 1, "on (medium)": 2, "on": 3, "on (high)": 4}
"""States from least to most thinking (On with no effort sits below High: gpt-oss's default effort is medium)."""


@dataclass
class StateRow:
    model: str
    state: str
    run_dir: str
    row: MasterRow


def states_by_model(batch_dir: Path) -> dict[str, list[StateRow]]:
    """The batch's wattbot rows that have a run dir, per model, in ORDER."""
    found: dict[str, list[StateRow]] = {}
    for row in BatchDir(batch_dir).read_master():
        if row.workload != "wattbot" or not row.run_dir or not Path(row.run_dir, "summary.json").exists():
            continue
        found.setdefault(row.model_name, []).append(StateRow(row.model_name, row.reasoning_state or "", row.run_dir,
                                                             row))  # fmt: skip
    for states in found.values():
        states.sort(key=lambda s: ORDER.get(s.state.lower(), 5))
    return found


def reasoning_table(
    batch_dir: Path, solution: Path | None, default_solution: Callable[[], Path], spec: Bootstrap
) -> list[dict[str, Any]]:
    """One entry per (model, state) other than the model's baseline, or per model with a single state."""
    out: list[dict[str, Any]] = []
    for model, states in sorted(states_by_model(batch_dir).items()):
        if len(states) == 1:
            only = states[0]
            out.append({"model": model, "state": only.state, "baseline": None,
                        "note": "one state measured: nothing to compare it with", **_figures(only.row)})  # fmt: skip
            continue
        base = states[0]
        runs = resolve([s.run_dir for s in states], batch_dir / "individual_runs", solution, default_solution)
        names = {s.run_dir: run.name for s, run in zip(states, runs)}
        result = compare(runs, "kaggle", spec, baseline=names[base.run_dir])
        by_name = {p["b"]: p for p in result["pairs"]}  # compare puts the baseline first: baseline - state
        note = None if base.state.lower().startswith("off") else f"no Off state: compared with {base.state}"
        for state in states[1:]:
            pair = by_name.get(names[state.run_dir], {})
            energy = pair.get("energy") or {}
            ci, ratio_ci = pair.get(spec.key), energy.get(spec.key)
            out.append({
                "model": model, "state": state.state, "baseline": base.state, "note": note, "n": pair.get("n"),
                # This state against the baseline: the difference state - baseline, the ratio state / baseline.
                "diff": None if pair.get("diff") is None else 0.0 - pair["diff"],  # 0.0 -: no "-0.000"
                "ci95": None if ci is None else [0.0 - ci[1], 0.0 - ci[0]],
                "p_value": pair.get("p_value"), "p_adjusted": pair.get("p_adjusted"), "verdict": pair.get("verdict"),
                "energy_ratio": None if not energy.get("ratio") else 1 / energy["ratio"],
                "energy_ratio_ci95": None if not ratio_ci else [1 / ratio_ci[1], 1 / ratio_ci[0]],
                "energy_note": pair.get("energy_note"), **_figures(state.row),
                "baseline_reasoning_tokens_per_question": base.row.reasoning_tokens_per_question,
            })  # fmt: skip
    return out


def _figures(row: MasterRow) -> dict[str, Any]:
    return {"overall_score": row.overall_score, "energy_per_question_wh": row.avg_energy_per_prompt_wh,
            "reasoning_tokens_per_question": row.reasoning_tokens_per_question,
            "latency_per_question_s": row.avg_latency_seconds}  # fmt: skip


def format_table(entries: list[dict[str, Any]]) -> str:
    def num(value: Any, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    lines = ["model | state | vs | score diff [95% CI] p_adj | energy ratio [95% CI] | reasoning tok/q | latency s/q"]
    for e in entries:
        if e.get("baseline") is None:
            lines.append(f"{e['model']} | {e['state']} | - | {e['note']}")
            continue
        ci = e.get("ci95") or [None, None]
        ratio_ci = e.get("energy_ratio_ci95") or [None, None]
        if e.get("energy_ratio") is not None:
            energy = f"{num(e['energy_ratio'], '.2f')}x [{num(ratio_ci[0], '.2f')}, {num(ratio_ci[1], '.2f')}]"
        else:
            energy = f"n/a ({e.get('energy_note') or 'not measured'})"
        lines.append(
            f"{e['model']} | {e['state']} | {e['baseline']} | {num(e['diff'], '+.3f')} [{num(ci[0], '+.3f')}, "
            f"{num(ci[1], '+.3f')}] p={num(e['p_adjusted'], '.3f')} ({e['verdict']}) | {energy} | "
            f"{num(e['reasoning_tokens_per_question'], '.0f')} | {num(e['latency_per_question_s'], '.2f')}"
            + (f"  ({e['note']})" if e.get("note") else "")
        )
    return "\n".join(lines)


def plot_reasoning(batch_dir: Path, out: Path) -> Any:
    """Accuracy against energy per question, each model's states joined in ORDER (plots/ style)."""
    from wattbench.report.plots.base import Plot, not_drawn, pyplot, save

    plot = Plot("reasoning", "What reasoning buys: WattBot score against energy per question")
    states = states_by_model(batch_dir)
    drawn = {m: [s for s in ss if s.row.avg_energy_per_prompt_wh is not None and s.row.overall_score is not None]
             for m, ss in states.items()}  # fmt: skip
    if not any(drawn.values()):
        return not_drawn(plot, out, "no wattbot row with both a score and an energy per question")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model, points in sorted(drawn.items()):
        if not points:
            continue
        xs = [float(p.row.avg_energy_per_prompt_wh or 0.0) for p in points]
        ys = [float(p.row.overall_score or 0.0) for p in points]
        lows = [y - _or(p.row.overall_score_ci95_low, y) for p, y in zip(points, ys)]
        highs = [_or(p.row.overall_score_ci95_high, y) - y for p, y in zip(points, ys)]
        ax.errorbar(xs, ys, yerr=[lows, highs], marker="o", capsize=3, label=model.split("/")[-1])
        for p, x, y in zip(points, xs, ys):
            ax.annotate(p.state, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("energy per question (Wh, log)")
    ax.set_ylabel("WattBot score (95% CI)")
    ax.legend(fontsize=7)
    ax.set_title(plot.title, fontsize=9)
    missing = [f"{m} {s.state}" for m, ss in states.items() for s in ss if s not in drawn[m]]
    plot.note = f"left out (no energy or score): {', '.join(missing)}" if missing else None
    return save(fig, out, plot)


def reasoning_section(batch_dir: Path, solution: Path | None, default_solution: Callable[[], Path],
                      plots_dir: Path) -> str:  # fmt: skip
    """The HTML report's "What reasoning buys" section: the table and the figure, when the batch has wattbot
    rows; "" otherwise."""
    import html

    if not states_by_model(batch_dir):
        return ""
    entries = reasoning_table(batch_dir, solution, default_solution, Bootstrap())
    plot = plot_reasoning(batch_dir, plots_dir)
    text = html.escape(format_table(entries))
    image = next((p for p in plot.files if p.suffix == ".svg"), None)
    picture = f'<img src="{html.escape(str(image))}" alt="{html.escape(plot.title)}">' if image else ""
    note = f"<p>{html.escape(plot.note)}</p>" if plot.note else ""
    return (f'<h2 id="reasoning">What reasoning buys</h2><p>Each state against Off, paired on the questions '
            f"(difference state - Off with its 95% interval and Holm-adjusted p; energy per question state / Off)."
            f"</p><pre>{text}</pre>{picture}{note}")  # fmt: skip


def textgen_rows(rows: list[MasterRow]) -> list[MasterRow]:
    """The rows the Energy Score ratings, labels and the board apply to (not the wattbot workload's)."""
    return [row for row in rows if row.workload != "wattbot"]


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)
