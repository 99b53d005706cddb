"""The settings reference (docs/reference/settings.md), made from the config models themselves.

Every setting is documented once, in the docstring under its field; the default is the field's own. This module
turns them into Markdown tables, one per section, so no default or description is restated by hand. The docs
site builds the page with it (docs/hooks/settings.py), and `wattbench settings` prints it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


@cache
def _docstrings(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string right under `name: type = ...`) of `cls` and its bases."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, BaseModel) or not issubclass(klass, BaseModel):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):  # fmt: skip
                out[node.target.id] = " ".join(after.value.value.split())
    return out


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "")


def _default(field: Any, section: BaseModel | None = None, name: str = "") -> str:
    """The field's default; inside a section whose own default sets it otherwise (a batch's engine settings),
    that section's value."""
    if section is not None and name in section.model_fields_set:
        value = getattr(section, name)
    elif field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(section)"
    else:
        value = field.default
    if value is PydanticUndefined:
        return "(required)"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _section_model(field: Any) -> type[BaseModel] | None:
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def model_markdown(model: type[BaseModel], prefix: str = "", level: int = 3, defaults: BaseModel | None = None) -> str:
    """One table for `model`'s own settings, then one per nested section (`[generation]`, ...); `defaults`: the
    section's default as its parent makes it, where that differs from the section model's own."""
    docs = _docstrings(model)
    rows, sections = [], []
    for name, field in model.model_fields.items():
        nested = _section_model(field)
        key = f"{prefix}{name}"
        if nested is not None:
            made = field.get_default(call_default_factory=True)
            sections.append(model_markdown(nested, f"{key}.", level + 1, made if isinstance(made, BaseModel) else None))
            continue
        type_text = f"`{_cell(_type_name(field.annotation))}`"
        default = _cell(_default(field, defaults, name))
        rows.append(f"| `{key}` | {type_text} | `{default}` | {_cell(docs.get(name, ''))} |")
    title = f"{'#' * level} {'`[' + prefix.rstrip('.') + ']`' if prefix else model.__name__}"
    intro = " ".join((model.__doc__ or "").split())
    table = ["| key | type | default | what it is |", "|---|---|---|---|", *rows] if rows else []
    return "\n".join([title, "", intro, "", *table, "", *sections])


def settings_markdown() -> str:
    """The whole reference: a run's settings, a batch's, and each campaign's."""
    from wattbench.config.batch import BatchConfig
    from wattbench.config.campaigns import BenchmarkConfig, EnsembleConfig, ScalingConfig
    from wattbench.config.experiment import ExperimentConfig

    parts: list[tuple[str, type[BaseModel]]] = [
        ("A run (`wattbench run --config FILE`)", ExperimentConfig),
        ("A batch (`wattbench batch --config FILE`)", BatchConfig),
        ("A benchmark campaign (`wattbench benchmark --config FILE`)", BenchmarkConfig),
        ("A scaling study (`wattbench scaling --config FILE`)", ScalingConfig),
        ("An ensemble (`wattbench ensemble --config FILE`)", EnsembleConfig),
    ]
    out = []
    for heading, model in parts:
        out.append(f"## {heading}\n\n{model_markdown(model)}")
    return "\n".join(out)


def setting_help(model: type[BaseModel], path: str) -> str:
    """A command-line flag's help: the first sentence of the setting's docstring, and its default."""
    *sections, name = path.split(".")
    section: type[BaseModel] = model
    made: BaseModel | None = None
    for part in sections:
        field = section.model_fields[part]
        default = field.get_default(call_default_factory=True)
        made = default if isinstance(default, BaseModel) else None
        nested = _section_model(field)
        assert nested is not None, f"{part} is not a section of {section.__name__}"
        section = nested
    text = _docstrings(section).get(name, "")
    first = text.split(". ")[0].rstrip(".")
    default = _default(section.model_fields[name], made, name).strip('"')
    return f"{first}." if default == "none" else f"{first} (default: {default})."
