"""pytest-tokencost's own hooks, for packages that extend it.

Implement them in a `conftest.py` or a plugin module. The calibration harness adds its own
(`pytest_tokencost_adapters`, in `calibrate.hookspecs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest


@pytest.hookspec
def pytest_tokencost_summary_sections(  # type: ignore[empty-body]
    report: Any, config: pytest.Config
) -> Sequence[Any]:
    """Return extra sections for the run's Markdown summary (`--cost-report=markdown`, the
    GitHub step summary): a list of `pytest_tokencost.ci.SummarySection(title, lines)`, where
    `lines` are Markdown. Called once, in the process that writes, after the `TokenReport`
    (`report`) is built; every implementation's sections are added in order. Example::

        from pytest_tokencost.ci import SummarySection

        def pytest_tokencost_summary_sections(report, config):
            return [SummarySection("Release", [f"built from `{os.environ['GITHUB_SHA']}`"])]
    """
