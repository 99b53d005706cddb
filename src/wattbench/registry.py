"""The one registry: names → lazily imported `module:object`, with aliases, entry-point groups for other
packages, near-miss suggestions and one error type. Engines, executors, tasks, meters, protocols and plots each
keep one `Registry` of this kind, so adding one of them is a module and a line in its table.

A third-party package adds an entry by declaring an entry point in the registry's group (for engines,
`[project.entry-points."wattbench.backends"] name = "package.module:BackendClass"`), as inspect_ai's providers do;
a built-in name cannot be taken over. Nothing is imported until it is looked up.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import entry_points
from typing import Any

from wattbench.errors import WattbenchError


class UnknownName(WattbenchError, ValueError):
    """A name no registry entry has (the message names the known ones and the near miss). A ValueError too, so a
    pydantic validator that looks a name up reports it as that field's error."""


@dataclass(frozen=True)
class Entry:
    name: str
    target: str
    """`module:attribute`, imported on first use."""
    extra: str = ""
    """The pip extra that installs what the module imports ("" for none)."""
    aliases: tuple[str, ...] = ()
    builtin: bool = True


class Registry:
    """Entries of one kind (`what`: "backend", "executor", ...), in the order given (some callers try them in
    order: the meters `auto` opens)."""

    def __init__(self, what: str, entries: Iterable[Entry], group: str | None = None) -> None:
        self.what, self.group = what, group
        self._builtin = {e.name: e for e in entries}

    @cached_property
    def entries(self) -> dict[str, Entry]:
        table = dict(self._builtin)
        for point in entry_points(group=self.group) if self.group else ():
            table.setdefault(point.name, Entry(point.name, point.value, point.dist.name if point.dist else "",
                                               builtin=False))  # fmt: skip
        return table

    def refresh(self) -> None:
        """Read the entry points again (a package installed since the first lookup)."""
        self.__dict__.pop("entries", None)

    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def aliases(self) -> dict[str, str]:
        return {alias: e.name for e in self.entries.values() for alias in e.aliases}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.entries or name in self.aliases())

    def resolve(self, name: str, where: str = "", also: tuple[str, ...] = ()) -> str:
        """The entry's name for `name` (an alias or a name); an unknown one is UnknownName with the near miss.
        `where` prefixes the message (the flag or config field the name came from); `also`: other names the
        caller accepts itself (a meter's `auto` and `none`), listed and suggested with the entries."""
        key = self.aliases().get(name, name)
        if key in self.entries or key in also:
            return key
        known = [*also[:1], *self.entries, *also[1:]]
        near = difflib.get_close_matches(key, [*known, *self.aliases()], n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        prefix = f"{where}: " if where else ""
        raise UnknownName(f"{prefix}unknown {self.what} '{name}' (known: {', '.join(known)}){hint}")

    def load(self, name: str, where: str = "") -> Any:
        """The entry's object, imported now; a missing dependency is one line naming the extra to install."""
        entry = self.entries[self.resolve(name, where)]
        module_name, _, attribute = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            install = f": pip install 'wattbench[{entry.extra}]'" if entry.builtin and entry.extra else ""
            raise WattbenchError(f"{self.what} '{entry.name}' needs {exc.name or 'a package'}{install}") from None
        return getattr(module, attribute)
