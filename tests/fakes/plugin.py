"""A third-party package on disk: a module and a dist-info declaring entry points, as pip would install it."""

from __future__ import annotations

import textwrap
from pathlib import Path


def install_plugin(site: Path, module: str, source: str, entry_points: str) -> Path:
    """Write package `module` (its __init__ is `source`) and its dist-info with `entry_points` (the text of an
    entry_points.txt) under `site`; put `site` on sys.path (monkeypatch.syspath_prepend) to install it."""
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(textwrap.dedent(source))
    dist = site / f"{module}-0.1.dist-info"
    dist.mkdir()
    name = module.replace("_", "-")
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(entry_points)
    return site
