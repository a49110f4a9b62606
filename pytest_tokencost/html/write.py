"""Writing a finished run's pages (the `--cost-report=html[:PATH]` targets)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..session import RunState

__all__ = ["write_run_pages"]


def write_run_pages(state: RunState, paths: tuple[Path, ...]) -> tuple[list[Path], list[str]]:
    """Write the page to each path; returns the paths written and the problems met.

    A page that cannot be written (a folder missing, a disk full, a link refused) is a
    problem to report, never an exception into the test session.
    """
    from ..errors import TokenCostError
    from . import render_page
    from .load import page_from_run

    if state.report is None:
        return [], []
    try:
        text = render_page(page_from_run(state))
    except TokenCostError as exc:
        return [], [f"cannot write the HTML report: {exc}"]
    except Exception as exc:  # a bug in the page must not break the session's other reports
        name = type(exc).__name__
        return [], [f"cannot write the HTML report: {name}: {exc} (a bug: please report it)"]
    from ..outdir import atomic_write_text

    written, problems = [], []
    for path in paths:
        try:
            if path.is_symlink():
                raise OSError(f"{path} is a symbolic link; pytest-tokencost does not follow it")
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
        except OSError as exc:
            problems.append(f"cannot write the HTML report {path}: {exc.strerror or exc}")
        else:
            written.append(path)
    return written, problems
