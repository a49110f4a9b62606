"""Reruns (pytest-rerunfailures): every attempt's records count once and say which attempt."""

from __future__ import annotations

import json

import pytest

SUITE = """
from pathlib import Path
from pytest_tokencost import Usage

def test_flaky(token_tracker):
    attempts = Path("attempts")
    count = int(attempts.read_text()) + 1 if attempts.exists() else 1
    attempts.write_text(str(count))
    with token_tracker.step("call"):
        token_tracker.record(model="gpt-4o", usage=Usage(input=900, output=100))
    assert count == 3, f"attempt {count} fails"

def test_steady(token_tracker):
    token_tracker.record(model="gpt-4o", usage=Usage(input=40, output=10))
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_each_attempt_counts_once_and_the_test_row_sums_them(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    plugin_pytester.makepyfile(test_suite=SUITE)
    result = plugin_pytester.runpytest_subprocess(
        "--reruns", "2", "-n", workers, "-p", "no:cacheprovider"
    )
    assert result.parseoutcomes() == {"passed": 2, "rerun": 2}
    out = plugin_pytester.path / ".tokencost"
    report = json.loads((out / "token-report.json").read_text())
    flaky = report["summary"]["by_test"]["test_suite.py::test_flaky"]
    # Three attempts of 1,000 tokens: 3,000 really spent, not 1,000 (last attempt only) and
    # not 6,000 (each attempt re-counting the earlier ones).
    assert flaky["usage"]["input"] + flaky["usage"]["output"] == 3_000
    assert flaky["records"] == 3 and flaky["steps"] == 3
    assert report["summary"]["totals"]["usage"]["input"] == 2_740
    lines = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    attempts = sorted(r["attempt"] for r in lines if r["test_id"].endswith("test_flaky"))
    assert attempts == [1, 2, 3]
    assert [r["attempt"] for r in lines if r["test_id"].endswith("test_steady")] == [1]


BUDGETED = """
from pytest_tokencost import Usage
import pytest

@pytest.mark.token_budget(max_tokens=100)
def test_over(token_tracker):
    with token_tracker.step("loop", max_tokens=50):
        token_tracker.record(usage=Usage(input=60, output=20), model="gpt-4o")

def test_other(token_tracker):
    with token_tracker.step("loop", max_tokens=500):
        token_tracker.record(usage=Usage(input=30, output=10), model="gpt-4o")
"""


@pytest.mark.usefixtures("wide_terminal")  # whole rows
def test_budget_rows_name_the_attempt_and_the_test_of_a_step(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(test_budgeted=BUDGETED)
    result = plugin_pytester.runpytest(
        "-p", "no:cacheprovider", "--reruns", "1", "--cost-report=term"
    )
    outcomes = result.parseoutcomes()
    assert (outcomes["failed"], outcomes["passed"], outcomes["rerun"]) == (1, 1, 1)
    rows = [line.split("  ")[0] for line in result.outlines if " tokens " in line]
    assert sorted(row for row in rows if row.startswith(("test ", "step "))) == [
        "step loop in test_other",
        "step loop in test_over",
        "step loop in test_over (attempt 2)",
        "test test_budgeted.py::test_over",
        "test test_budgeted.py::test_over (attempt 2)",
    ]
    markdown = plugin_pytester.runpytest("-p", "no:cacheprovider", "--cost-report=markdown:s.md")
    assert markdown.ret == pytest.ExitCode.TESTS_FAILED
    assert "| step loop in test_over " in (plugin_pytester.path / "s.md").read_text()
