"""`wattbench report`: one static HTML file, readable without a server or a network.

The plots are embedded as PNG data URIs and the table sorts with a few lines of inline script, so the file can
be mailed, attached to a paper's artefacts or opened from a cluster's shared disk as it is.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wattbench.report.audit import RunAudit
from wattbench.report.plots import Plot
from wattbench.report.question_stats import QuestionScores
from wattbench.report.ratings import RatingReport
from wattbench.report.runs import RunInfo
from wattbench.report.standings import Standing, standings, tie_note
from wattbench.store.schema import MasterRow


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[RunInfo], object]
    digits: int | None = None
    """Decimals for numbers; None for text."""


RUN_COLUMNS = (
    Column("run", lambda r: r.name),
    Column("model", lambda r: r.model),
    Column("provider", lambda r: r.provider),
    Column("where", lambda r: r.deployment),
    Column("params (B)", lambda r: r.params_b, 3),
    Column("questions", lambda r: r.num_questions, 0),
    Column("overall", lambda r: r.overall, 4),
    Column("value", lambda r: r.score("value_accuracy"), 3),
    Column("ref", lambda r: r.score("ref_overlap"), 3),
    Column("NA", lambda r: r.score("na_term"), 3),
    Column("latency (s)", lambda r: r.latency_s, 2),
    Column("USD / 1000 q", lambda r: r.usd_per_1000_questions, 4),
    Column("Wh / question", lambda r: r.wh_per_question, 4),
    Column("energy scope", lambda r: r.energy_scope),
    Column("GPU power (W)", lambda r: r.avg_power_w, 1),
    Column("VRAM (GB)", lambda r: r.vram_gb, 2),
)
OVERALL_AT = next(i for i, c in enumerate(RUN_COLUMNS) if c.title == "overall")
MASTER_SHOWN = (
    "model_name", "model_class", "task", "reasoning_state", "status", "successful_prompts",
    "avg_latency_seconds", "throughput_tokens_per_second", "wh_per_1000_queries", "gpu_energy_wh",
)  # fmt: skip

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
/* A wide table scrolls inside its own box: the page itself never scrolls sideways. */
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.45em; }
td { max-width: 16em; overflow-wrap: anywhere; }
tr.other-set td { background: #fff8e0; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; overflow-wrap: normal; }
td.none { color: #999; text-align: center; }
.flag { color: #b00; overflow-wrap: normal; } .clean { color: #070; }
figure { display: inline-block; margin: 1em; vertical-align: top; max-width: 46%; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
"""

# Click a header to sort by it; numbers sort as numbers and empty cells ("n/m") always go last.
SCRIPT = r"""
document.querySelectorAll("table.sortable th").forEach((th, col) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0];
  const up = th.dataset.dir !== "asc"; th.dataset.dir = up ? "asc" : "desc";
  const key = tr => { const c = tr.cells[col]; return c.dataset.v === undefined ? null : c.dataset.v; };
  [...body.rows].sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);
    const nx = parseFloat(x), ny = parseFloat(y);
    const d = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
    return up ? d : -d;
  }).forEach(tr => body.appendChild(tr));
}));
// The runs table's filter: a row stays when its text holds every word typed (any case); "N of M runs shown".
// No server and no network: the page stays one static file.
document.querySelectorAll("input.table-filter").forEach(box => {
  const table = document.getElementById(box.dataset.table), count = document.getElementById(box.id + "-count");
  const rows = [...table.tBodies[0].rows], texts = rows.map(tr => tr.textContent.toLowerCase());
  const apply = () => {
    const words = box.value.toLowerCase().split(/\s+/).filter(w => w);
    let shown = 0;
    rows.forEach((tr, i) => {
      const keep = words.every(w => texts[i].includes(w));
      tr.hidden = !keep; shown += keep;
    });
    count.textContent = shown + " of " + rows.length + " runs shown";
  };
  // A link can carry the filter: report.html#filter=qwen%20tied opens with it typed.
  const linked = location.hash.match(/filter=([^&]*)/);
  if (linked) box.value = decodeURIComponent(linked[1]);
  box.addEventListener("input", apply); apply();
});
// How many embedded plots decoded, and which tables stick out of the page: a headless browser (the tests, a
// CI check) reads both from the DOM.
window.addEventListener("load", () => {
  const imgs = [...document.querySelectorAll("#plots img")];
  const ok = imgs.filter(img => img.complete && img.naturalWidth > 0).length;
  document.getElementById("plots").dataset.loaded = ok + "/" + imgs.length;
  const sweeps = [...document.querySelectorAll(".load-plots img")];
  const drawn = sweeps.filter(img => img.complete && img.naturalWidth > 0).length;
  document.getElementById("load").dataset.loaded = drawn + "/" + sweeps.length;
  const page = document.documentElement.clientWidth;
  const out = [...document.querySelectorAll("table")].filter(t => {
    const box = (t.closest(".scroll") || t).getBoundingClientRect();
    return box.right > page + 1;
  }).map(t => t.id || "table");
  document.body.dataset.overflow = out.join(",") || "none";
  const clipped = [...document.querySelectorAll(".scroll")].filter(d => d.scrollWidth > d.clientWidth + 1)
    .map(d => (d.querySelector("table") || {}).id || "table");
  document.body.dataset.clipped = clipped.join(",") || "none";
  document.body.dataset.pageWidth = page + "/" + document.documentElement.scrollWidth;
});
"""


def _cell(value: object, digits: int | None) -> str:
    if value is None or value == "":
        return '<td class="none">n/m</td>'
    if digits is not None and isinstance(value, int | float):
        return f'<td class="num" data-v="{value}">{value:.{digits}f}</td>'
    text = html.escape(str(value))
    return f'<td data-v="{text}">{text}</td>'


def _standing_cells(standing: Standing | None) -> str:
    if standing is None:
        return '<td class="none">n/m</td><td class="none">n/m</td>'
    lo, hi = standing.interval or (standing.overall, standing.overall)
    interval = f'<td class="num" data-v="{lo}">{lo:.2f}-{hi:.2f}</td>'
    place = {"tied with best": "tied", "": "alone"}.get(standing.place, standing.place)
    why = f"{standing.question_set}" + ("" if standing.p_vs_best is None else f"; p = {standing.p_vs_best:.3g}")
    return f'{interval}<td data-v="{place}" title="{html.escape(why)}">{place}</td>'


def runs_table(runs: list[RunInfo], audits: dict[str, RunAudit]) -> str:
    """One row per run, grouped by the question set it was scored on (runs are ranked only within one), each
    with its 95% interval and whether it is detectably worse than its group's best (report/standings.py)."""
    ranked = {s.name: s for s in standings(runs)}
    shown = OVERALL_AT + 1
    titles = [c.title for c in RUN_COLUMNS[:shown]] + ["95% CI", "vs best"] + [c.title for c in RUN_COLUMNS[shown:]]
    head = "".join(f"<th>{html.escape(t)}</th>" for t in [*titles, "audit"])
    order = {name: i for i, name in enumerate(ranked)}
    largest = next(iter(ranked.values())).question_set if ranked else None
    rows = []
    for run in sorted(runs, key=lambda r: (order.get(r.name, len(order)), -(r.overall or -1))):
        standing = ranked.get(run.name)
        cells = "".join(_cell(c.value(run), c.digits) for c in RUN_COLUMNS[:shown]) + _standing_cells(standing)
        cells += "".join(_cell(c.value(run), c.digits) for c in RUN_COLUMNS[shown:])
        audit = audits.get(run.name)
        flags = ", ".join(f.code for f in audit.flags) if audit else ""
        status = (
            f'<td class="flag" data-v="{flags}">{flags}</td>' if flags else '<td class="clean" data-v="">clean</td>'
        )
        other = standing.question_set if standing is not None and standing.question_set != largest else None
        mark = f' class="other-set" title="ranked among the runs on {other}"' if other else ""
        rows.append(f"<tr{mark}>{cells}{status}</tr>")
    table = f'<table id="runs" class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    note = tie_note(list(ranked.values()))
    intro = (
        "<p>Runs are ranked only against runs on the same questions (shaded: another question set than the "
        "largest; hover over a run's place for its set and p-value). 95% CI: BCa bootstrap over questions; vs "
        f"best: paired test against the set's best, Holm-adjusted. {html.escape(note)}</p>"
        if ranked else ""
    )  # fmt: skip
    search = (
        '<p><input id="runs-filter" class="table-filter" data-table="runs" type="search" size="40" '
        'placeholder="filter: words in any column, e.g. qwen gpu tied" aria-label="filter the runs"> '
        f'<span id="runs-filter-count">{len(runs)} runs</span></p>'
    )
    return f'{intro}{search}<div class="scroll">{table}</div>'


def audit_list(audits: list[RunAudit]) -> str:
    items = [
        f"<li><b>{html.escape(a.name)}</b>: [{html.escape(f.code)}] {html.escape(f.message)}</li>"
        for a in audits
        for f in a.flags
    ]
    clean = ", ".join(html.escape(a.name) for a in audits if a.clean) or "none"
    return f"<ul>{''.join(items)}</ul><p class='clean'>Clean runs: {clean}</p>"


def figures(plots: list[Plot]) -> str:
    out = []
    for plot in plots:
        png = next((p for p in plot.files if p.suffix == ".png"), None)
        if png is None:
            continue
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        note = f" ({html.escape(plot.note)})" if plot.note else ""
        out.append(
            f'<figure><img alt="{html.escape(plot.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(plot.title)}{note}</figcaption></figure>"
        )
    return "".join(out)


def batch_section(rows: list[MasterRow] | None, ratings: RatingReport | None) -> str:
    if not rows:
        return "<p>No batch results (run <code>wattbench batch</code>, or pass <code>--batch-dir</code>).</p>"
    stars = {(r.model_name, r.reasoning_state): r for r in (ratings.ratings if ratings else [])}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in MASTER_SHOWN) + "<th>stars</th>"
    body = []
    for row in rows:
        cells = []
        for column in MASTER_SHOWN:
            value = getattr(row, column, None)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            cells.append(_cell(value, 3) if number else _cell(value, None))
        rating = stars.get((row.model_name, row.reasoning_state or ""))
        shown = None
        if rating is not None:
            spans = f"{rating.stars_label} ★ (its energy interval spans a band edge)"
            shown = spans if rating.stars_range else "★" * rating.stars
        cells.append(_cell(shown, None))
        body.append(f"<tr>{''.join(cells)}</tr>")
    bounds = "".join(
        f"<li>{html.escape(b.task)}, class {html.escape(b.model_class or '-')}: Wh per 1000 queries band edges "
        f"{' | '.join(f'{e:.3f}' for e in b.band_edges)} (5 stars lowest)</li>"
        for b in (ratings.bounds if ratings else [])
    )
    left = "".join(
        f"<li>not rated: {html.escape(m)} '{html.escape(s)}': {html.escape(w)}</li>"
        for m, s, w in (ratings.left_out if ratings else [])
    )
    table = f'<table id="batch" class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f'<div class="scroll">{table}</div><ul>{bounds}{left}</ul>'


def labels_section(labels: list[str]) -> str:
    """Each completed batch run's label (inline SVG, its text kept as text)."""
    if not labels:
        return ""
    figures = "".join(f'<figure class="label">{svg[svg.find("<svg") :]}</figure>' for svg in labels)
    return f'<h3>Labels</h3><div id="labels">{figures}</div>'


def load_section(load_dir: Path, plots_dir: Path) -> str:
    """Each load sweep under `load_dir`: its points, its two figures (drawn into plots_dir/load/<sweep>) and the
    reference figure to read a GPU result against."""
    from wattbench.report.load_plots import load_plots
    from wattbench.report.load_section import SHOWN, about, find_sweeps, problems
    from wattbench.runs.load import ANCHOR

    sweeps = find_sweeps(load_dir)
    if not sweeps:
        return f"<p>No load sweeps in <code>{html.escape(str(load_dir))}</code> (run <code>wattbench load</code>).</p>"
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in SHOWN)
    parts = []
    for n, sweep in enumerate(sweeps):
        rows = "".join(
            "<tr>" + "".join(_cell(getattr(p, name), digits) for name, _, digits in SHOWN) + "</tr>"
            for p in sweep.points
        )
        notes = "".join(f"<li>{html.escape(line)}</li>" for line in problems(sweep))
        parts.append(
            f"<h3>{html.escape(sweep.name)}</h3><p>{about(sweep)}</p>"
            f'<div class="scroll"><table id="load-{n}" class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>" + (f"<ul>{notes}</ul>" if notes else "")
            + f'<div class="load-plots">{figures(load_plots(sweep.points, plots_dir / "load" / sweep.name))}</div>'
        )  # fmt: skip
    return "".join(parts) + f"<p>Reference: {html.escape(ANCHOR)}.</p>"


def render_report(
    runs: list[RunInfo],
    audits: list[RunAudit],
    plots: list[Plot],
    batch_rows: list[MasterRow] | None,
    ratings: RatingReport | None,
    source: str,
    labels: list[str] | None = None,
    load_html: str = "",
) -> str:
    by_name = {a.name: a for a in audits}
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>wattbench report</title><style>{STYLE}</style></head>
<body>
<h1>wattbench report</h1>
<p>{len(runs)} runs from <code>{html.escape(source)}</code>, generated {generated}. Scores are the WattBot metric
(kaggle mode: 0.75 value + 0.15 reference overlap + 0.10 unanswerable detection). "n/m": not measured.
Click a column header to sort; type in the box above the runs table to filter it.</p>
<h2>Runs</h2>
{runs_table(runs, by_name)}
<h2>Audit</h2>
{audit_list(audits)}
<h2>Plots</h2>
<div id="plots">{figures(plots)}</div>
<h2 id="energy-score">Energy Score batch results and star ratings</h2>
{batch_section(batch_rows, ratings)}
{labels_section(labels or [])}
<h2 id="load">Load sweeps (steady state)</h2>
{load_html}
<script>{SCRIPT}</script>
</body></html>
"""


@dataclass
class BuiltReport:
    path: Path
    runs: int
    flagged: int
    plots: int
    batch_rows: int | None


def build_report(
    runs: list[RunInfo],
    scores: QuestionScores | None,
    solution: Path | None,
    out: Path,
    plots_dir: Path,
    batch_dir: Path,
    source: str,
    load_dir: Path | None = None,
) -> BuiltReport:
    """Audit the runs, draw every plot, read the batch results (if any) and write the page atomically."""
    from wattbench.report.audit import audit_runs
    from wattbench.report.plots import all_plots
    from wattbench.report.ratings import rate
    from wattbench.store.batch_dir import BatchDir
    from wattbench.store.rundir import write_atomically

    audits = audit_runs(runs, solution)
    plots = all_plots(runs, scores, plots_dir)
    from wattbench.report.reasoning import reasoning_section, textgen_rows

    batch = BatchDir(batch_dir)
    every = batch.read_master() if batch.master_csv.exists() else None
    rows = textgen_rows(every) if every else None
    loads = load_section(load_dir, plots_dir) if load_dir is not None else ""
    ratings = rate(rows) if rows else None
    reasoning = reasoning_section(batch_dir, solution, lambda: solution or Path(), plots_dir) if every else ""
    page = render_report(runs, audits, plots, rows, ratings, source, _labels(batch_dir, rows), loads + reasoning)
    from wattbench.store.safe_io import guarded

    with guarded(out.parent, "create"):
        out.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(out, page)
    flagged = sum(1 for a in audits if not a.clean)
    return BuiltReport(out, len(runs), flagged, len(plots), len(rows) if rows else None)


def _labels(batch_dir: Path, rows: list[MasterRow] | None) -> list[str]:
    if not rows:
        return []
    from wattbench.data.board import load_board
    from wattbench.report.batch_labels import batch_label_facts
    from wattbench.report.label import render_svg

    return [render_svg(facts) for facts in batch_label_facts(batch_dir, load_board())]
