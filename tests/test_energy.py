from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path

import pytest

from fakes.fake_pynvml import Clock, FakeGpu, make_module
from wattbench.cli import main
from wattbench.energy.base import Measurement, Meter
from wattbench.energy.carbon import co2e_g, grid_intensity_for_country
from wattbench.energy.hardware import directory_bytes, model_disk_bytes
from wattbench.energy.meters import make_meter
from wattbench.energy.nvml import visible_devices
from wattbench.energy.rapl import RaplSource
from wattbench.energy.sampler import COLUMNS
from wattbench.energy.shares import PerQuery
from wattbench.errors import WattbenchError

UUIDS = [
    "GPU-aaaaaaaa-1111-2222-3333-444444444444",
    "GPU-bbbbbbbb-1111-2222-3333-444444444444",
    "GPU-cccccccc-1111-2222-3333-444444444444",
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gpus() -> list[FakeGpu]:
    return [
        FakeGpu(0, UUIDS[0], schedule=[(0.0, 100.0)]),
        FakeGpu(1, UUIDS[1], schedule=[(0.0, 250.0)]),
        FakeGpu(2, UUIDS[2], schedule=[(0.0, 300.0)]),
    ]


@pytest.fixture
def nvml(gpus, clock, monkeypatch):
    """The fake installed as `pynvml`, as the real package would be."""
    module = make_module(gpus, clock)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return module


def _run(meter: Meter, clock: Clock, seconds: float, step: float = 0.1) -> None:
    """Let fake time pass, with the sampler ticking (when there is one) as its thread would."""
    for _ in range(round(seconds / step)):
        clock.advance(step)
        if meter.sampler is not None:
            meter.sampler.sample_once()


def test_counter_windows_sum_every_visible_gpu(nvml, clock):
    meter = make_meter("nvml", sampler_hz=None, clock=clock)
    with meter.window("questions") as w:
        clock.advance(10.0)
    m = w.result
    assert m.duration_s == 10.0
    assert m.energy_j == pytest.approx({"gpu:0": 1000.0, "gpu:1": 2500.0, "gpu:2": 3000.0})
    assert m.total_j("gpu") == pytest.approx(6500.0) and m.total_j("cpu") is None
    assert m.method == {"gpu:0": "nvml_counter", "gpu:1": "nvml_counter", "gpu:2": "nvml_counter"}
    assert m.avg_power_w == pytest.approx({"gpu:0": 100.0, "gpu:1": 250.0, "gpu:2": 300.0})


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("2,0", [2, 0]),
        (UUIDS[1], [1]),
        ("GPU-cccccccc", [2]),
        ("bbbbbbbb-1111", [1]),
        (f"{UUIDS[2]},0", [2, 0]),
        ("0,7,1", [0]),
        ("", []),
        ("-1", []),
    ],
)
def test_cuda_visible_devices_as_indices_and_uuids(nvml, visible, expected, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    assert visible_devices(nvml)[0] == expected


def test_only_the_runs_gpus_are_metered(nvml, clock, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", f"{UUIDS[2]},{UUIDS[0]}")
    meter = make_meter("auto", sampler_hz=None, powercap_root=Path("/nonexistent"), clock=clock)
    with meter.window("w") as w:
        clock.advance(2.0)
    assert w.result.energy_j == pytest.approx({"gpu:2": 600.0, "gpu:0": 200.0})
    assert "cpu" in w.result.unavailable  # no RAPL tree: said, not zero
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "9")
    hidden = make_meter("auto", sampler_hz=None, powercap_root=Path("/nonexistent"))
    assert hidden.unavailable()["gpu"].startswith("no GPU visible") and hidden.setup_warnings


def test_integer_indices_without_pci_order_warn(nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    indices, warnings = visible_devices(nvml)
    assert indices == [1] and "CUDA_DEVICE_ORDER=PCI_BUS_ID" in warnings[0]


def test_power_sampling_where_the_counter_is_unsupported(nvml, gpus, clock):
    gpus[0].has_counter = False
    gpus[0].schedule = [(0.0, 100.0), (1004.0, 300.0)]  # a step from 100 W to 300 W 4 s into the window
    meter = make_meter("nvml", gpu_indices=[0], sampler_hz=10, clock=clock)
    meter.sampler.sample_once()
    with meter.window("w") as w:
        _run(meter, clock, 10.0)
    assert w.result.method == {"gpu:0": "nvml_power_sampling"}
    exact = gpus[0].energy_j(1000.0, 1010.0)  # 4 s · 100 W + 6 s · 300 W = 2200 J
    assert w.result.energy_j["gpu:0"] == pytest.approx(exact, rel=0.01)
    assert w.result.peak_power_w["gpu:0"] == 300.0


def test_counter_reset_and_wraparound(nvml, gpus, clock):
    gpus[0].resets_at = 1005.0
    gpus[1].counter_offset_mj = 2**64 - 1_000_000  # wraps 4 s into the run at 250 W
    meter = make_meter("nvml", gpu_indices=[0, 1], sampler_hz=10, clock=clock)
    meter.sampler.sample_once()
    with meter.window("w") as w:
        _run(meter, clock, 10.0)
    assert w.result.energy_j["gpu:1"] == pytest.approx(2500.0)
    assert w.result.energy_j["gpu:0"] == pytest.approx(1000.0, rel=0.02)  # at most one tick lost at the reset
    assert any("gpu:0: energy counter reset" in message for message in w.result.warnings)


def test_a_counter_that_disagrees_with_power_is_flagged(nvml, gpus, clock):
    gpus[1].counter_scale = 1.3
    meter = make_meter("nvml", gpu_indices=[0, 1], sampler_hz=10, clock=clock)
    meter.sampler.sample_once()
    with meter.window("w") as w:
        _run(meter, clock, 5.0)
    flagged = [m for m in w.result.warnings if "disagree" in m]
    assert len(flagged) == 1 and flagged[0].startswith("gpu:1:") and "30%" in flagged[0]


def test_idle_baseline_nesting_and_net_energy(nvml, gpus, clock):
    gpus[0].schedule = [(0.0, 50.0), (1010.0, 200.0)]  # idle for the first 10 s, then busy
    meter = make_meter("nvml", gpu_indices=[0], sampler_hz=None, clock=clock)
    idle = meter.measure_idle(10.0, sleep=clock.advance)
    assert idle.idle_power_w == pytest.approx({"gpu:0": 50.0})
    with meter.window("questions") as outer:
        clock.advance(2.0)
        with meter.window("batch") as inner:
            clock.advance(3.0)
        clock.advance(5.0)
    assert inner.result.energy_j["gpu:0"] == pytest.approx(600.0)
    assert outer.result.energy_j["gpu:0"] == pytest.approx(2000.0)
    assert outer.result.energy_net_of_idle_j == pytest.approx({"gpu:0": 1500.0})
    assert outer.result.idle_power_w == pytest.approx({"gpu:0": 50.0})


def test_resumed_sessions_add_up_through_json(nvml, clock):
    meter = make_meter("nvml", gpu_indices=[0, 1], sampler_hz=None, clock=clock)
    with meter.window("questions") as first:
        clock.advance(4.0)
    stored = json.loads(json.dumps(first.result.to_dict()))  # what summary.json keeps between sessions
    with meter.window("questions") as second:
        clock.advance(6.0)
    total = Measurement.from_dict(stored) + second.result
    assert total.sessions == 2 and total.duration_s == pytest.approx(10.0)
    assert total.energy_j == pytest.approx({"gpu:0": 1000.0, "gpu:1": 2500.0})
    partial = total + Measurement("questions", 1.0, energy_j={"gpu:0": 100.0}, unavailable={})
    assert "gpu:1" not in partial.energy_j and "some of the summed" in partial.unavailable["gpu:1"]


def _zone(root: Path, name: str, zone_name: str, energy_uj: int | None, wrap: int = 1_000_000) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(zone_name + "\n")
    (zone / "max_energy_range_uj").write_text(f"{wrap}\n")
    if energy_uj is not None:
        (zone / "energy_uj").write_text(f"{energy_uj}\n")
    return zone


def test_rapl_package_and_dram_with_wraparound(tmp_path: Path, clock):
    package = _zone(tmp_path, "intel-rapl:0", "package-0", 900_000)
    dram = _zone(tmp_path, "intel-rapl:0:2", "dram", 10)
    _zone(tmp_path, "intel-rapl:0:0", "core", 5)  # part of the package: not counted again
    broken = _zone(tmp_path, "intel-rapl:1", "package-1", None)
    (broken / "energy_uj").mkdir()  # a zone whose counter cannot be read
    meter = Meter([RaplSource(tmp_path)], clock=clock)
    with meter.window("w") as w:
        clock.advance(1.0)
        (package / "energy_uj").write_text("400000\n")  # wrapped at 1,000,000 µJ: +500,000 µJ
        (dram / "energy_uj").write_text("250010\n")
    assert w.result.energy_j == pytest.approx({"cpu:package-0": 0.5, "dram:0": 0.25})
    assert w.result.method == {"cpu:package-0": "rapl", "dram:0": "rapl"}
    assert "cannot read" in w.result.unavailable["cpu:package-1"]
    assert "cpu" in RaplSource(tmp_path / "none").unavailable()


def test_meter_kinds_and_their_errors(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # as if nvidia-ml-py were not installed
    with pytest.raises(WattbenchError, match="meter = nvml: nvidia-ml-py is not installed"):
        make_meter("nvml")
    with pytest.raises(WattbenchError, match="meter = rapl: no RAPL zones"):
        make_meter("rapl", powercap_root=tmp_path)
    with pytest.raises(WattbenchError, match="unknown meter 'watts'"):
        make_meter("watts")  # type: ignore[arg-type]
    off = make_meter("none")
    with off.window("w") as w:
        pass
    assert w.result.energy_j == {} and w.result.unavailable == {"all": "energy metering is off (meter = none)"}


def test_a_source_is_one_module_and_one_registry_line(monkeypatch):
    """The registry is the only place make_meter learns a source's name: a new one needs no other change."""
    import time

    from fakes import scripted_source
    from wattbench.energy.meters import SOURCES, check_meter
    from wattbench.registry import Entry

    monkeypatch.setitem(SOURCES.entries, "wall", Entry("wall", "fakes.scripted_source:open_source", builtin=False))
    check_meter("wall")
    meter = make_meter("wall", sampler_hz=None)
    with meter.window("work") as w:
        time.sleep(0.3)
    joules = w.result.energy_j["wall:0"]
    # 40 W for the real duration of the window, not a plausible constant.
    assert joules == pytest.approx(scripted_source.WATTS * w.result.duration_s, rel=0.05)
    assert 0.3 * scripted_source.WATTS * 0.95 <= joules <= 1.0 * scripted_source.WATTS
    with pytest.raises(WattbenchError, match="unknown meter 'wal' .*; did you mean 'wall'\\?"):
        check_meter("wal")


def test_sampler_thread_timeline_and_csv(nvml, tmp_path: Path):
    meter = make_meter("nvml", gpu_indices=[0, 1], sampler_hz=50)  # real time: the thread really runs
    sampler = meter.sampler.start()
    time.sleep(0.3)
    sampler.stop()
    path = tmp_path / "power.csv"
    sampler.write_csv(path)
    rows = list(csv.DictReader(path.open()))
    assert tuple(rows[0]) == COLUMNS
    assert {r["scope"] for r in rows} == {"gpu:0", "gpu:1"} and len(rows) >= 2 * 8
    assert rows[0]["power_w"] == "100.0" and rows[0]["utilization_pct"] == "87" and rows[0]["sm_clock_mhz"] == "1980"
    assert sampler.max_memory_used_mib == {"gpu:0": 10240.0, "gpu:1": 10240.0}
    assert 0.0 < sampler.cpu_time_s < 0.3
    sampler.write_csv(path)  # a resumed session appends below the same header
    assert path.read_text().count("timestamp") == 1


def test_model_disk_size_counts_each_blob_once(tmp_path: Path):
    blobs = tmp_path / "models--org--m" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / "aaa").write_bytes(b"x" * 1000)
    (blobs / "bbb").write_bytes(b"y" * 24)
    for revision in ("snap1", "snap2"):  # two revisions sharing the same weights
        snapshot = tmp_path / "models--org--m" / "snapshots" / revision
        snapshot.mkdir(parents=True)
        (snapshot / "model.safetensors").symlink_to(blobs / "aaa")
        (snapshot / "config.json").symlink_to(blobs / "bbb")
    os.link(blobs / "aaa", tmp_path / "models--org--m" / "hardlink")
    assert directory_bytes(tmp_path / "models--org--m") == 1024
    assert directory_bytes(tmp_path / "models--org--m" / "snapshots" / "snap1") == 1024
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"g" * 77)
    assert model_disk_bytes(gguf) == 77
    assert model_disk_bytes("no-such-org/no-such-model") is None  # unknown, never 0


def test_derived_figures_and_co2e():
    figures = PerQuery(7200.0, answered=40, output_tokens=3600).to_dict()
    expected = {"energy_wh": 2.0, "wh_per_query": 0.05, "wh_per_1000_queries": 50.0, "j_per_output_token": 2.0,
                "output_tokens_per_j": 0.5}  # fmt: skip
    assert {k: figures[k] for k in expected} == pytest.approx(expected)
    unknown = PerQuery(None, answered=40, output_tokens=3600).to_dict()
    assert all(unknown[k] is None for k in expected)
    assert co2e_g(2.0, None) is None  # no silent default region
    assert co2e_g(2.0, 400.0) == pytest.approx(0.8)
    with pytest.raises(WattbenchError, match="needs codecarbon|unknown country"):
        grid_intensity_for_country("ZZZ")


def test_hw_command_with_and_without_gpus(nvml, capsys, tmp_path: Path, monkeypatch):
    assert main(["hw", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"gpus", "cpu", "meters", "unavailable"} <= set(report)
    assert [g["name"] for g in report["gpus"]] == ["NVIDIA H100 80GB HBM3"] * 3
    assert report["cuda_driver_version"] == "13.0" and report["meters"]["methods"]["gpu:2"] == "nvml_counter"
    assert main(["hw"]) == 0
    assert "gpu 0  NVIDIA H100 80GB HBM3, 80.0 GiB, 700 W limit, energy counter" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert main(["hw", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["gpus"] == [] and "nvidia-ml-py is not installed" in report["unavailable"]["gpu"]
