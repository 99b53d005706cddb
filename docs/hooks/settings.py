"""mkdocs hook: fill the settings reference from the config models (wattbench.config.reference)."""

from __future__ import annotations

MARKER = "<!-- settings -->"


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 — mkdocs' hook signature
    if MARKER not in markdown:
        return markdown
    from wattbench.config.reference import settings_markdown

    return markdown.replace(MARKER, settings_markdown())
