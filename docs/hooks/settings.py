"""mkdocs hook: fill the generated reference pages from the models (config/reference.py, store/reference.py)."""

from __future__ import annotations

from collections.abc import Callable


def _makers() -> dict[str, Callable[[], str]]:
    from wattbench.config.reference import settings_markdown
    from wattbench.store.reference import store_markdown

    return {"<!-- settings -->": settings_markdown, "<!-- store -->": store_markdown}


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 — mkdocs' hook signature
    for marker, make in _makers().items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
