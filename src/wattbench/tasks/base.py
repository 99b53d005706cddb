"""The Task protocol and the registry of tasks by name.

A task turns one item (a WattBot question, a chunk of energy-score prompts) into generation requests, decides
the follow-up requests from what came back (planner queries, a blank answer asked again, a prompt too long for
the context asked again shorter), and evaluates the completions into the item's result. It does so as a
generator, an `Exchange`: it yields the requests of one `Backend.generate` call, is sent the completions, and
returns the result. runs/loop.py drives any task this way, so a task never calls a backend itself and a new task
is one module and one line in TASKS.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar, Protocol, TypeVar

from wattbench.backends.base import Completion, GenerationRequest
from wattbench.registry import Entry, Registry

R = TypeVar("R")
Exchange = Generator[list[GenerationRequest], list[Completion], R]
"""Yields the requests of one generate call, is sent their completions, returns the item's result."""

TASKS = Registry("task", [
    Entry("wattbot", "wattbench.tasks.wattbot_question:WattBotTask"),
    Entry("textgen", "wattbench.tasks.textgen:TextGenTask"),
], group="wattbench.tasks")  # fmt: skip


class Task(Protocol):
    name: ClassVar[str]
    unit: ClassVar[str]
    """What an item's parts are called in messages: questions, prompts."""

    def window(self, item: Any) -> str:
        """The name of the item's meter window."""
        ...

    def start(self, item: Any) -> Exchange[Any]: ...

    def failed(self, item: Any, exc: Exception) -> Any:
        """The result of an item whose exchange raised (a bug or an engine crash): failed, nothing measured."""
        ...

    def errors(self, result: Any) -> list[str | None]:
        """Per part of the result (a question, each prompt of a chunk), its error or None: consecutive failures
        stop a run."""
        ...


def task_class(name: str) -> type:
    found: type = TASKS.load(name, "task")
    return found
