"""Tokens and cost columns in pytest-html's results table (registered when pytest-html is on).

Each test's payload arrives on its teardown report (replayed from the workers under xdist),
before pytest-html (a `trylast` hook) builds that test's rows, so every row of a test gets its
figures: all its attempts' tokens and the cost of the priced ones ("not recorded" when none).
"""

from __future__ import annotations

from html import escape
from typing import Any

import pytest

__all__ = ["PytestHtmlColumns"]


class PytestHtmlColumns:
    """pytest-html hooks adding "Tokens" and "Cost" columns."""

    def __init__(self) -> None:
        #: test id -> [tokens, priced cost in micro-USD or None, records without a price, records]
        self.figures: dict[str, list[Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Add up the tokens and cost of the test's payload (plain JSON on the report)."""
        data: Any = getattr(report, "tokencost", None)
        if not isinstance(data, dict):
            return
        figures = self.figures.setdefault(report.nodeid, [0, None, 0, 0])
        for record in data.get("records") or ():
            usage = record.get("usage") or {}
            figures[3] += 1
            figures[0] += int(usage.get("input") or 0) + int(usage.get("output") or 0)
            cost = record.get("cost_micro_usd")
            if cost is None:
                figures[2] += 1
            else:
                figures[1] = (figures[1] or 0) + int(cost)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        """Two sortable columns after the test id."""
        cells.insert(2, '<th class="sortable" data-column-type="tokencostTokens">Tokens</th>')
        cells.insert(3, '<th class="sortable" data-column-type="tokencostCost">Cost</th>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        """The test's tokens and cost ("-" when it recorded nothing)."""
        from ..render import format_usd

        figures = self.figures.get(report.nodeid)
        if figures is None or not figures[3]:
            tokens, cost = "-", "-"
        else:
            tokens = f"{figures[0]:,}"
            cost = format_usd(figures[1])
            if figures[1] is not None and figures[2]:
                cost += f" + {figures[2]} not recorded"
        cells.insert(2, f'<td class="col-tokencostTokens">{escape(tokens)}</td>')
        cells.insert(3, f'<td class="col-tokencostCost">{escape(cost)}</td>')
