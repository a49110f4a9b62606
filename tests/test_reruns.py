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
