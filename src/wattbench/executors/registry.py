"""The executors by name, imported only when chosen, and the `Executor` protocol they share.

An executor takes Jobs and gives back one Outcome per job, in the order they finished, calling `notify` as each
one ends; Ctrl-C stops what runs and is reported as `interrupted`. Adding one is a module with a class that has
`run` and a line in EXECUTORS (or an entry point in the `wattbench.executors` group).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wattbench.executors.job import Job, Notify, Outcome, Say
from wattbench.registry import Entry, Registry

EXECUTORS = Registry("executor", [
    Entry("inline", "wattbench.executors.inline:InlineExecutor"),
    Entry("local", "wattbench.executors.local:LocalExecutor"),
    Entry("ray", "wattbench.executors.ray:RayExecutor", "ray"),
], group="wattbench.executors")  # fmt: skip


@dataclass
class ExecutorChoice:
    """What `--executor`, `--gpus`, `--slots` and `--ray-address` asked for."""

    name: str = "inline"
    gpus: list[int] | None = None
    cpu_slots: int | None = None
    ray_address: str | None = None


class Executor(Protocol):
    def run(self, jobs: list[Job], notify: Notify) -> list[Outcome]: ...


def check_executor(name: str) -> None:
    """Refuse an unknown executor before anything runs (it comes from `--executor` or a file's executor.name)."""
    EXECUTORS.resolve(name, "--executor")


def make_executor(choice: ExecutorChoice, say: Say = lambda line: None) -> Executor:
    executor: Executor = EXECUTORS.load(choice.name, "--executor")(choice, say)
    return executor


def run_jobs(jobs: list[Job], choice: ExecutorChoice, notify: Notify, say: Say = lambda line: None) -> list[Outcome]:
    return make_executor(choice, say).run(jobs, notify)
