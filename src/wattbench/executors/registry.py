"""The executors by name, imported only when chosen, and the `Executor` protocol they share.

An executor takes Jobs and gives back one Outcome per job, in the order they finished, calling `notify` as each
one ends; Ctrl-C stops what runs and is reported as `interrupted`. Adding one is a module with a class that has
`run` and a line in EXECUTORS.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Protocol

from wattbench.errors import ConfigError
from wattbench.executors.job import Job, Notify, Outcome, Say

EXECUTORS = {
    "inline": "wattbench.executors.inline:InlineExecutor",
    "local": "wattbench.executors.local:LocalExecutor",
    "ray": "wattbench.executors.ray:RayExecutor",
}


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
    if name not in EXECUTORS:
        near = difflib.get_close_matches(name, list(EXECUTORS), n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise ConfigError(f"--executor {name}: unknown executor{hint}; use one of: {', '.join(EXECUTORS)}")


def make_executor(choice: ExecutorChoice, say: Say = lambda line: None) -> Executor:
    check_executor(choice.name)
    module, _, attr = EXECUTORS[choice.name].partition(":")
    executor: Executor = getattr(importlib.import_module(module), attr)(choice, say)
    return executor


def run_jobs(jobs: list[Job], choice: ExecutorChoice, notify: Notify, say: Say = lambda line: None) -> list[Outcome]:
    return make_executor(choice, say).run(jobs, notify)
