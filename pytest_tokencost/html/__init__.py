"""The HTML cost page: one self-contained file per run (inline CSS, JS and SVG, no request).

`render_page(PageInput)` returns the page; `write_page(path, PageInput)` writes it atomically.
The numbers are in the HTML itself, so the page reads with JavaScript off; its script only adds
sorting and filtering. Jinja2 renders it with autoescaping: every string from a run (test ids,
model names, warnings) is text on the page, never markup.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings import HTML_NAME
from .model import Comparison, ComparisonRow, GateVerdict, PageInput, PastRun

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "HTML_NAME",
    "Comparison",
    "ComparisonRow",
    "GateVerdict",
    "PageInput",
    "PastRun",
    "render_page",
    "write_page",
]

_TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _template() -> tuple[jinja2.Template, str, str]:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    css = (_TEMPLATES / "page.css").read_text(encoding="utf-8")
    js = (_TEMPLATES / "page.js").read_text(encoding="utf-8")
    return env.get_template("page.html.j2"), css, js


def render_page(page: PageInput) -> str:
    """The whole page as one string."""
    from markupsafe import Markup

    from .view import build_view

    template, css, js = _template()
    # The style sheet and script are the package's own files, not run data: inserted verbatim.
    return template.render(v=build_view(page), css=Markup(css), js=Markup(js))


def write_page(path: Path, page: PageInput) -> None:
    """Write the page atomically (temp file + rename); raises OSError."""
    from ..outdir import atomic_write_text

    atomic_write_text(path, render_page(page))
