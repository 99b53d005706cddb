"""Port reservations for managed servers: two runs starting servers at once never get the same port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wattbench.backends.ports import release_port, reserve_port


def test_a_reserved_port_is_not_handed_out_again_until_released(tmp_path: Path):
    offered = iter([5001, 5001, 5002, 5001])
    first = reserve_port(folder=tmp_path, candidate=lambda host: next(offered))
    second = reserve_port(folder=tmp_path, candidate=lambda host: next(offered))
    assert (first, second) == (5001, 5002)  # the kernel offered 5001 twice: the reservation caught it
    assert (tmp_path / "5001").read_text() == str(os.getpid())
    release_port(5001, folder=tmp_path)
    assert reserve_port(folder=tmp_path, candidate=lambda host: next(offered)) == 5001


def test_a_reservation_whose_holder_died_is_taken_over(tmp_path: Path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "6001").write_text(dead.stdout.strip())
    offered = iter([6001, 6001])
    assert reserve_port(folder=tmp_path, candidate=lambda host: next(offered)) == 6001
    assert (tmp_path / "6001").read_text() == str(os.getpid())


def test_concurrent_processes_get_distinct_real_ports(tmp_path: Path):
    script = (
        "import sys, time; from pathlib import Path; from wattbench.backends.ports import reserve_port; "
        "print(reserve_port(folder=Path(sys.argv[1]))); time.sleep(1)"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    ports = [int(child.communicate()[0]) for child in children]
    assert len(set(ports)) == 6 and all(p > 0 for p in ports)
