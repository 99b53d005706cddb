"""Check GPU energy measurement on a real GPU: counter energy vs integrated power under a steady load.

Measures idle power for 10 s, then runs a steady bf16 matrix-multiply load on one GPU for 60 s inside a meter
window with the 10 Hz sampler, and prints the NVML counter energy, the energy from integrating the sampled
power, their ratio (1.00 means they agree; > 10% apart is flagged), idle power, and the sampler's CPU cost.
Run on a GPU machine: python benchmarks/gpu_energy_check.py [--seconds 60] [--device 0]
"""

from __future__ import annotations

import argparse
import time

from wattbench.energy.hardware import system_facts
from wattbench.energy.meters import make_meter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--device", type=int, default=0, help="NVML/CUDA index (set CUDA_DEVICE_ORDER=PCI_BUS_ID)")
    parser.add_argument("--size", type=int, default=8192)
    args = parser.parse_args()
    import torch

    facts = system_facts()
    gpu = facts["gpus"][args.device]
    print(
        f"gpu: {gpu['name']}, driver {facts['driver_version']}, CUDA {facts['cuda_driver_version']}, "
        f"power limit {gpu['power_limit_w']} W, energy counter: {gpu['energy_counter']}"
    )
    meter = make_meter("nvml", gpu_indices=[args.device], sampler_hz=10)
    sampler = meter.sampler.start()
    idle = meter.measure_idle(args.idle_seconds)
    scope = f"gpu:{args.device}"
    print(f"idle: {idle.avg_power_w[scope]:.1f} W over {idle.duration_s:.1f} s")

    device = torch.device(f"cuda:{args.device}")
    a = torch.randn(args.size, args.size, device=device, dtype=torch.bfloat16)
    b = torch.randn(args.size, args.size, device=device, dtype=torch.bfloat16)
    torch.cuda.synchronize(device)
    mark = sampler.mark()
    with meter.window("matmul") as window:
        deadline, iterations = time.monotonic() + args.seconds, 0
        while time.monotonic() < deadline:
            for _ in range(20):
                a @ b
            torch.cuda.synchronize(device)
            iterations += 20
    sampler.stop()
    result = window.result
    counter_j = result.energy_j[scope]
    integrated_j = sampler.integrated_since(mark)[scope]
    tflops = 2 * args.size**3 * iterations / result.duration_s / 1e12
    print(f"load: {result.duration_s:.1f} s, {iterations} matmuls of {args.size}², {tflops:.0f} TFLOP/s")
    print(f"counter energy:    {counter_j:10.1f} J ({result.method[scope]})")
    print(f"integrated power:  {integrated_j:10.1f} J ({len(sampler.samples)} samples at 10 Hz)")
    print(f"ratio counter/integrated: {counter_j / integrated_j:.4f}")
    print(
        f"average power {result.avg_power_w[scope]:.1f} W, peak {result.peak_power_w[scope]:.1f} W, "
        f"net of idle {result.energy_net_of_idle_j[scope]:.1f} J"
    )
    print(f"sampler CPU: {sampler.cpu_time_s:.3f} s; warnings: {result.warnings or 'none'}")


if __name__ == "__main__":
    main()
