"""Reading settings files and turning pydantic errors into one line that names the file, the field or the flag."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from wattbench.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML or YAML file into a dict (no validation yet)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(path.read_text(encoding="utf-8"))
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: expected a mapping of settings at the top level")
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except ImportError:
        raise ConfigError(f"{path}: YAML configs need PyYAML; pip install pyyaml, or use TOML") from None
    except Exception as exc:  # yaml.YAMLError without importing yaml at module level
        if type(exc).__module__.startswith("yaml"):
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        raise
    raise ConfigError(f"{path}: unknown config format '{suffix}'; use .toml or .yaml")


def validation_message(source: str, exc: ValidationError, prefix: str = "", flags: dict[str, str] | None = None) -> str:
    """One line naming the first bad field by its dotted path, or by its command-line flag when the value came
    from one (`flags`: dotted path → flag)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    what = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        what = "unknown setting; check its spelling"
    if flags and where in flags:
        return f"{flags[where]}: {what}"
    # A check across fields (a model validator) has no field of its own: its message names the fields itself.
    return f"{source}: {where}: {what}" if where else f"{source}: {what}"


def set_dotted(data: dict[str, Any], overrides: dict[str, Any] | None) -> set[str]:
    """Put each override (dotted path → value) into `data`, one table deep; a value of None means "not given" and
    changes nothing. Returns the paths that were given."""
    given: set[str] = set()
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        given.add(dotted)
        section, _, leaf = dotted.rpartition(".")
        (data.setdefault(section, {}) if section else data)[leaf] = value
    return given


def load_settings(
    model: type[M], path: Path | None, overrides: dict[str, Any] | None = None, flags: dict[str, str] | None = None
) -> M:
    """`model` from a TOML or YAML file (or its defaults), then the command line's dotted overrides. An error about
    a flag's value names the flag (`flags`: dotted path → flag); one about the file names the file and the field."""
    data: dict[str, Any] = dict(read_config_file(Path(path))) if path is not None else {}
    given = set_dotted(data, overrides)
    flags = flags or {}
    try:
        return model(**data)
    except ValidationError as exc:
        named = {k: v for k, v in flags.items() if k in given}
        source = str(path) if path is not None else "command line"
        first = exc.errors()[0]
        dotted = ".".join(str(p) for p in first["loc"])
        if first["type"] == "missing" and dotted in flags:
            where = f"{path}: " if path is not None else ""
            what = f"{flags[dotted]} is required: give it, or set {dotted} in a --config file"
            raise ConfigError(f"{where}{what}") from None
        raise ConfigError(validation_message(source, exc, flags=named)) from None
