"""Reading the HTML cost page back in tests: its tables, attributes and text (stdlib only)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

EVIL = "<img src=x onerror=alert(1)></script>"

#: Anthropic with cache reads and writes (1-hour ones too), OpenAI, a model nobody prices
#: whose name is markup, a test id that is markup, and a test with no model (default rate).
SUITE = f"""
import pytest
from pytest_tokencost import Usage

EVIL = {EVIL!r}

@pytest.mark.parametrize("n", range(4))
def test_agent(token_tracker, n):
    with token_tracker.step("plan"):
        token_tracker.record(
            usage=Usage(input=12_000 + n, output=800, cache_read=9_000, cache_write=2_000,
                        cache_write_1h=500),
            model="claude-sonnet-4-20250514", provider="anthropic")
    with token_tracker.step("answer"):
        token_tracker.record(usage=Usage(input=3_000, output=400, cache_read=1_024,
                                         reasoning=128), model="gpt-4o", provider="openai")

@pytest.mark.parametrize("name", [EVIL])
def test_markup(token_tracker, name):
    token_tracker.record(usage=Usage(input=700, output=100), model=name, step=name)

def test_no_model(token_tracker):
    token_tracker.record(usage=Usage(input=1_000, output=1_000), step="agent")
"""


@dataclass(frozen=True)
class SuiteRun:
    """One pytest run of SUITE (a session budget, HTML page and terminal section asked for)."""

    folder: Path
    stdout: str


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """SUITE run once per test module in a pytest subprocess (the plugin from its entry point);
    its output folder is shared by the module's tests, which only read it."""
    root = tmp_path_factory.mktemp("suite")
    (root / "tox.ini").write_text("[pytest]\n")
    (root / "test_suite.py").write_text(SUITE)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--cost-report=html",
            "--cost-report=term",
            "--cost-budget-tokens=200000",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout, result.stdout
    return SuiteRun(root / ".tokencost", result.stdout)


class Page(HTMLParser):
    """Every start tag with its attributes, the page's text, and each table's rows.

    A row is a list of cells; a cell is (text, attributes). Tables are keyed by their id.
    """

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[tuple[str, dict[str, str | None]]]]] = {}
        self.text_parts: list[str] = []
        self.script_text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._cell_attrs: dict[str, str | None] = {}
        self._in_body = False
        self._raw: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append((tag, values))
        if tag in ("script", "style"):
            self._raw = tag
        if tag == "table":
            self._table = values.get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._in_body = True
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell, self._cell_attrs = [], values

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._raw = None
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(("".join(self._cell).strip(), self._cell_attrs))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._raw == "script":
            self.script_text.append(data)
            return
        if self._raw == "style":
            return
        self.text_parts.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def text(self) -> str:
        """The page's visible text, white space collapsed."""
        return " ".join(" ".join(self.text_parts).split())

    def rows(self, table: str) -> dict[str, list[tuple[str, dict[str, str | None]]]]:
        """Body rows of a table by their first cell's text (the header row left out; a name
        cell's sub-line of names, which its title repeats, left out too)."""
        return {_name(row[0]): row[1:] for row in self.tables[table][1:]}

    def tags_with_class(self, name: str) -> list[dict[str, str | None]]:
        """Attributes of every element whose class list holds `name`."""
        return [a for _, a in self.tags if name in (a.get("class") or "").split()]

    def column(self, table: str, header: str) -> int:
        """Index (after the name) of a column, by its header text."""
        headers = [text for text, _ in self.tables[table][0]]
        return headers.index(header) - 1


def _name(cell: tuple[str, dict[str, str | None]]) -> str:
    text, attributes = cell
    return text.removesuffix(attributes.get("title") or "").strip()


def model_rows(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The page's model rows, by hand from token-report.json: the names of one model (its
    genai-prices id in `model_ids`) in one row named by that id; a lone name keeps its own."""
    groups: dict[str, list[str]] = {}
    for name in summary["by_model"]:
        groups.setdefault(summary["model_ids"].get(name, name), []).append(name)
    rows = {}
    for model_id, names in groups.items():
        parts = [summary["by_model"][name] for name in names]
        costs = [part["cost_micro_usd"] for part in parts if part["cost_micro_usd"] is not None]
        rows[names[0] if len(names) == 1 else model_id] = {
            "records": sum(part["records"] for part in parts),
            "usage": {
                key: sum(part["usage"][key] for part in parts) for key in ("input", "output")
            },
            # as TokenTotals adds them: the priced part, null only when nothing was priced
            "cost_micro_usd": sum(costs) if costs else None,
            "names": names,
        }
    return rows


def sort_value(cell: tuple[str, dict[str, Any]]) -> str:
    """What a cell sorts by: its data-v, else its text (a figure without its commas)."""
    value = cell[1].get("data-v")
    return cell[0].replace(",", "") if value is None else str(value)


def check_page_rows(page: Page, report: dict[str, Any]) -> None:
    """Every per-test, per-step and per-model row equals token-report.json's figures."""
    summary = report["summary"]
    expected = {"t-tests": summary["by_test"], "t-steps": summary["by_step"]}
    expected["t-models"] = model_rows(summary)
    for table, groups in expected.items():
        rows = page.rows(table)
        assert set(rows) == set(groups), table
        for name, totals in groups.items():
            cells = rows[name]
            usage = totals["usage"]
            assert sort_value(cells[page.column(table, "input")]) == str(usage["input"])
            assert sort_value(cells[page.column(table, "output")]) == str(usage["output"])
            assert cells[page.column(table, "calls")][0] == f"{totals['records']:,}"
            cost = cells[page.column(table, "cost")]
            if totals["cost_micro_usd"] is None:
                assert cost[0] == "not recorded"
            else:
                assert sort_value(cost) == str(totals["cost_micro_usd"])
