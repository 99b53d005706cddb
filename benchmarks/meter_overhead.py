"""CPU cost of the power sampler at 1, 10 and 50 Hz (goal: under 1% of one core at 10 Hz).

Runs the real sampler thread against the fake NVML module of the tests (8 GPUs) plus a fake RAPL tree, so it
measures wattbench's own cost: the thread's CPU time divided by the wall time it ran.
Run: python benchmarks/meter_overhead.py [--seconds 20] [--gpus 8]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.fake_pynvml import FakeGpu, make_module  # noqa: E402
from wattbench.energy.meters import make_meter  # noqa: E402


def fake_powercap(root: Path) -> Path:
    for name, zone in (("intel-rapl:0", "package-0"), ("intel-rapl:0:2", "dram")):
        (root / name).mkdir(parents=True)
        (root / name / "name").write_text(zone)
        (root / name / "energy_uj").write_text("1000")
        (root / name / "max_energy_range_uj").write_text("262143328850")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--gpus", type=int, default=8)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, python {platform.python_version()}; {args.gpus} fake GPUs + RAPL; "
        f"{args.seconds:.0f} s per rate"
    )
    clock = time.monotonic
    gpus = [FakeGpu(i, f"GPU-{i:08d}-0000-0000-0000-000000000000", schedule=[(0.0, 300.0)]) for i in range(args.gpus)]
    sys.modules["pynvml"] = make_module(gpus, clock)
    with tempfile.TemporaryDirectory() as tmp:
        root = fake_powercap(Path(tmp))
        for hz in (1, 10, 50):
            meter = make_meter("auto", gpu_indices=list(range(args.gpus)), sampler_hz=hz, powercap_root=root)
            sampler = meter.sampler.start()
            started = time.monotonic()
            time.sleep(args.seconds)
            sampler.stop()
            wall = time.monotonic() - started
            ticks = sampler.ticks
            print(
                f"{hz:>3} Hz: {ticks:5d} ticks, sampler CPU {sampler.cpu_time_s * 1000:8.1f} ms in {wall:.1f} s = "
                f"{100 * sampler.cpu_time_s / wall:.3f}% of one core ({1e6 * sampler.cpu_time_s / ticks:.0f} us/tick)"
            )


if __name__ == "__main__":
    main()
