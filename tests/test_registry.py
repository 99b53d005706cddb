"""The one registry every kind of plug-in uses: names and aliases, lazy imports, near misses, entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fakes.plugin import install_plugin
from wattbench.errors import WattbenchError
from wattbench.registry import Entry, Registry, UnknownName


def test_names_aliases_near_misses_and_lazy_imports():
    table = Registry("widget", [Entry("alpha", "json:dumps", aliases=("a",)), Entry("beta", "no_such_module:x", "b")])
    assert table.names() == ("alpha", "beta") and "a" in table and "gamma" not in table
    assert table.resolve("a") == "alpha" and table.load("alpha") is __import__("json").dumps
    with pytest.raises(UnknownName, match=r"--w: unknown widget 'alpah' \(known: alpha, beta\); did you mean 'alpha'"):
        table.resolve("alpah", "--w")
    assert isinstance(UnknownName("x"), ValueError)  # a pydantic validator reports it as its field's error
    with pytest.raises(WattbenchError, match=r"widget 'beta' needs no_such_module: pip install 'wattbench\[b\]'"):
        table.load("beta")  # imported only now, so a missing engine costs nothing until it is asked for
    assert table.resolve("auto", also=("auto", "none")) == "auto"
    with pytest.raises(UnknownName, match=r"\(known: auto, alpha, beta, none\); did you mean 'none'"):
        table.resolve("nnoe", also=("auto", "none"))


def test_every_kind_goes_through_it():
    from wattbench.backends.registry import ENGINES
    from wattbench.energy.meters import SOURCES
    from wattbench.executors.registry import EXECUTORS
    from wattbench.protocols import PROTOCOLS
    from wattbench.report.plots import QUESTION_PLOTS, RUN_PLOTS
    from wattbench.tasks.base import TASKS

    for table in (ENGINES, SOURCES, EXECUTORS, PROTOCOLS, RUN_PLOTS, QUESTION_PLOTS, TASKS):
        assert isinstance(table, Registry) and table.names()
    assert {"llamacpp", "hf", "openai", "vllm", "bedrock"} <= set(ENGINES.names())
    assert TASKS.load("wattbot").__name__ == "WattBotTask"
    assert RUN_PLOTS.names()[0] == "score_vs_size" and "ranking" in RUN_PLOTS.names()


def test_a_package_adds_an_entry_through_its_group(tmp_path: Path, monkeypatch):
    source = """
        def open_source(context):
            raise RuntimeError("not called here")
    """
    points = "[wattbench.meters]\nwatts = extra_meter:open_source\nnvml = x:y\n"
    monkeypatch.syspath_prepend(str(install_plugin(tmp_path / "site", "extra_meter", source, points)))
    from wattbench.energy.meters import SOURCES, check_meter

    SOURCES.refresh()
    try:
        check_meter("watts")
        assert SOURCES.load("watts").__module__ == "extra_meter"
        assert SOURCES.entries["nvml"].target == "wattbench.energy.nvml:open_source"  # a built-in is not taken over
    finally:
        monkeypatch.undo()  # the package is gone again
        SOURCES.refresh()
        sys.modules.pop("extra_meter", None)
    assert "watts" not in SOURCES.names()
