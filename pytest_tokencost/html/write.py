"""Writing a finished run's pages (the `--cost-report=html[:PATH]` targets)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..runfiles import REPORT_NAME
from ..settings import HTML_NAME

if TYPE_CHECKING:
    from ..session import RunState

__all__ = ["write_run_pages"]


def write_run_pages(state: RunState, paths: tuple[Path, ...]) -> tuple[list[Path], list[str]]:
    """Write the page to each path; returns the paths written and the problems met.

    The page in the output folder goes beside the published `token-report.json` when that is
    this run's; when another run sharing the folder published since, it goes to this run's own
    folder (`runs/<run id>/`) instead, and the path written says so.

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
    written, problems = [], []
    top = state.settings.output_dir / HTML_NAME
    for path in paths:
        try:
            if path == top and state.files is not None:
                # Beside the published token-report.json, only while that report is this
                # run's: two runs sharing the folder never leave a mixed pair.
                with state.files.lock():
                    if _published_run(path.with_name(REPORT_NAME)) != state.run_id:
                        path = state.files.run_dir / HTML_NAME
                    _write(path, text)
            else:
                _write(path, text)
        except OSError as exc:
            problems.append(f"cannot write the HTML report {path}: {exc.strerror or exc}")
        else:
            written.append(path)
    return written, problems


def _write(path: Path, text: str) -> None:
    from ..outdir import atomic_write_text

    if path.is_symlink():
        raise OSError(f"{path} is a symbolic link; pytest-tokencost does not follow it")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def _published_run(report: Path) -> str | None:
    """The run id of the published token-report.json (None when there is none to read)."""
    import json

    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        run_id = data["run"]["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return run_id if isinstance(run_id, str) else None
