"""Figures that read at any number of runs (issue 36): past LABELLED_MAX runs a figure draws the top runs and
every run tied with the best and says what it left out; past CELL_TEXT_MAX the agreement heatmap has no per-cell
text; past SVG_MAX_MARKS only the PNG is written. A store of a few runs draws every run, as before."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fakes.store import write_run
from wattbench.report.plots import all_plots
from wattbench.report.plots.base import CELL_TEXT_MAX, LABELLED_MAX, SVG_MAX_MARKS
from wattbench.report.question_stats import question_scores
from wattbench.report.runs import load_runs

N_RUNS = 70  # past every limit: LABELLED_MAX 40, CELL_TEXT_MAX 20, SVG_MAX_MARKS 60


@pytest.fixture(scope="module")
def campaign(wattbot: Path, tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("campaign") / "runs"
    solution = wattbot / "train_QA.csv"
    rng = random.Random(3)
    for i in range(N_RUNS):
        right = [rng.random() < 0.2 + 0.6 * i / N_RUNS for _ in range(41)]
        write_run(runs, f"run-{i:03d}", solution, correct=0, right=right, params=(i + 1) * 100_000_000,
                  gpu_wh_per_question=0.01 * (1 + i % 7))  # fmt: skip
    return runs


def _pixels_high(png: Path) -> int:
    return int.from_bytes(png.read_bytes()[20:24], "big")  # the IHDR height


def test_a_campaign_s_figures_are_bounded_and_say_what_they_left_out(campaign: Path, wattbot: Path, tmp_path: Path):
    assert N_RUNS > max(LABELLED_MAX, CELL_TEXT_MAX, SVG_MAX_MARKS)
    runs, _ = load_runs(campaign)
    plots = {p.name: p for p in all_plots(runs, question_scores(runs, wattbot / "train_QA.csv"), tmp_path)}
    ranking = plots["ranking"]
    assert "runs drawn" in (ranking.note or "") and "left out" in (ranking.note or "")
    assert _pixels_high(tmp_path / "ranking.png") < 4000
    # A scatter draws every run's marker (70, past SVG_MAX_MARKS): the PNG alone, and labels for the top 40 only.
    assert [f.suffix for f in plots["score_vs_size"].files] == [".png"]
    assert not (tmp_path / "score_vs_size.svg").exists()
    for name in ("score_breakdown", "agreement_heatmap", "refusal_rates", "energy_per_run"):
        assert "drawn" in (plots[name].note or ""), name
    assert "70 runs" in (plots["agreement_heatmap"].note or "")
    heat = tmp_path / "agreement_heatmap.png"
    assert heat.stat().st_size < 1_000_000 and _pixels_high(heat) < 2500
    # Every file a browser opens at once: no PNG over 2 MB, no SVG past the limit.
    for plot in plots.values():
        assert all(f.stat().st_size < 2_000_000 for f in plot.files), plot.name


def test_a_few_runs_are_all_drawn_with_both_formats(campaign: Path, wattbot: Path, tmp_path: Path):
    few = tmp_path / "few"
    few.mkdir()
    for name in ("run-000", "run-035", "run-069"):
        (few / name).symlink_to(campaign / name)
    runs, _ = load_runs(few)
    plots = {p.name: p for p in all_plots(runs, question_scores(runs, wattbot / "train_QA.csv"), tmp_path / "p")}
    assert sorted(f.suffix for f in plots["ranking"].files) == [".png", ".svg"]
    assert "drawn" not in (plots["ranking"].note or "") and plots["score_breakdown"].note is None
    svg = (tmp_path / "p" / "agreement_heatmap.svg").read_text(encoding="utf-8")
    assert svg.count("<g id=\"text_") >= 9  # a value printed in each of the 3 x 3 cells


@pytest.mark.slow
def test_a_campaign_report_opens_in_chromium_and_its_runs_table_filters(campaign: Path, wattbot: Path, tmp_path: Path):
    import re
    import subprocess

    from test_report import CHROMIUM_FLAGS, _chromium
    from wattbench.cli import main

    chromium = _chromium()
    page = tmp_path / "report.html"
    assert main(["report", "--experiments-dir", str(campaign), "--solution", str(wattbot / "train_QA.csv"),
                 "--out", str(page), "--plots-dir", str(tmp_path / "plots")]) == 0  # fmt: skip
    assert page.stat().st_size < 3_000_000  # every plot embedded once, as a bounded PNG
    html_text = page.read_text(encoding="utf-8")
    blobs = re.findall(r"base64,([A-Za-z0-9+/=]+)", html_text)
    assert len(blobs) == len(set(blobs)) == 14  # each of the 14 figures once

    def dom(fragment: str) -> str:
        profile = ["--user-data-dir=" + str(tmp_path / "profile"), "--virtual-time-budget=10000"]
        return subprocess.run([chromium, *CHROMIUM_FLAGS, *profile, "--dump-dom", page.as_uri() + fragment],
                              capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip

    shown = dom("")
    assert re.search(r'data-loaded="(\d+)/\1"', shown)  # every embedded plot decoded
    assert f"{N_RUNS} of {N_RUNS} runs shown" in shown
    filtered = dom("#filter=RUN-007")  # any case
    table = re.search(r'<table id="runs".*?</table>', filtered, re.S)
    assert table is not None
    visible = [row for row in re.findall(r"<tr(?: [^>]*)?>", table.group(0)) if "hidden" not in row]
    assert len(visible) == 1 + 1  # the header and run-007
    assert f"1 of {N_RUNS} runs shown" in filtered
