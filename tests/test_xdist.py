"""pytest-xdist: the same totals with and without workers; a crashed worker loses nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

SUITE = """
import pytest
from pytest_tokencost import Usage

MODELS = ["gpt-4o", "claude-sonnet-4", "gpt-4o-mini", None, "in-house-7b"]

@pytest.mark.parametrize("n", range(24))
def test_case(token_tracker, n):
    model = MODELS[n % len(MODELS)]
    with token_tracker.case(f"case-{n % 6}"):
        with token_tracker.step("recall"):
            token_tracker.record(model=model, usage=Usage(
                input=1_000 + 37 * n, output=100 + n, cache_read=(n * 11) % 500))
        with token_tracker.step("triage"):
            token_tracker.record(model=model, prompt="ticket text " * (n + 1), artifact="P2")
"""


def _comparable(node: Any) -> Any:
    """The report summary without timings (wall clock differs between any two runs)."""
    if isinstance(node, dict):
        return {k: _comparable(v) for k, v in node.items() if k != "wall_ms"}
    if isinstance(node, list):
        return [_comparable(v) for v in node]
    return node


def _summary(pytester: pytest.Pytester) -> Any:
    report = json.loads((pytester.path / ".tokencost" / "token-report.json").read_text())
    return _comparable(report["summary"])


@pytest.mark.parametrize("workers", ["2", "4"])
def test_totals_and_breakdowns_equal_the_serial_run(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    plugin_pytester.makepyfile(test_suite=SUITE)
    plugin_pytester.runpytest_subprocess("-n", "0").assert_outcomes(passed=24)
    serial = _summary(plugin_pytester)
    serial_lines = (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    result = plugin_pytester.runpytest_subprocess("-n", workers)
    result.assert_outcomes(passed=24)
    assert _summary(plugin_pytester) == serial
    assert serial["totals"]["records"] == 48
    assert len(serial["by_test"]) == 24 and len(serial["by_case"]) == 6
    parallel_lines = (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text()
    assert len(parallel_lines.splitlines()) == len(serial_lines)


def test_a_crashed_worker_loses_no_finished_test(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile("""
        import os
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.parametrize("n", range(10))
        def test_spend(token_tracker, n):
            token_tracker.record(model="gpt-4o", usage=Usage(input=100, output=10))

        def test_crash(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=5, output=5))
            os._exit(1)  # the worker dies mid-test
    """)
    result = plugin_pytester.runpytest_subprocess("-n", "2", "--cost-report")
    result.assert_outcomes(passed=10, failed=1)
    result.stdout.fnmatch_lines(["*worker*crashed*", "*= Token & Cost =*"])
    summary = _summary(plugin_pytester)
    # Every finished test's records arrived; only the crashed test's own are missing.
    assert summary["totals"]["records"] == 10
    assert summary["totals"]["usage"]["input"] == 1_000
    records = (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    assert len(records) == 10
