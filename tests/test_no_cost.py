"""The off switches: --no-cost (and ini tokencost_disable) keep suites working; -p no:tokencost."""

from __future__ import annotations

import json

import pytest

from tests.conftest import copy_scenario

SUITE = """
import json
import pytest
from pytest_tokencost import Usage

RESPONSE = json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 8, "total_tokens": 128},
})

@pytest.mark.token_budget(max_tokens=10)
def test_uses_the_tracker(token_tracker):
    with token_tracker.step("plan", max_tokens=5), token_tracker.case("c1"):
        token_tracker.record(model="gpt-4o", usage=Usage(input=1_000, output=100))
        usage = token_tracker.observe(RESPONSE)
    assert usage.input == 120  # the response is still read
    assert token_tracker.summary().totals.records == 0
    assert token_tracker.records() == []
"""


def test_no_cost_keeps_the_fixture_and_marker_as_no_ops(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(test_off=SUITE)
    result = plugin_pytester.runpytest("--no-cost", "--cost-report", "--cost-budget-tokens=5")
    result.assert_outcomes(passed=1)  # no budget fails it, no section, no files
    out = result.stdout.str()
    assert "Token & Cost" not in out and "tokencost:" not in out
    assert not (plugin_pytester.path / ".tokencost").exists()
    # Without the switch, the same test records (and its budget fails it).
    plugin_pytester.runpytest().assert_outcomes(failed=1)


def test_the_ini_switch_and_xdist(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(test_off=SUITE)
    plugin_pytester.makeini("[pytest]\ntokencost_disable = true\n")
    plugin_pytester.runpytest("-n", "2", "--junitxml=j.xml").assert_outcomes(passed=1)
    assert not (plugin_pytester.path / ".tokencost").exists()
    assert "tokencost_" not in (plugin_pytester.path / "j.xml").read_text()


@pytest.mark.harness
def test_the_harness_needs_accounting(plugin_pytester: pytest.Pytester) -> None:
    copy_scenario(plugin_pytester.path, cases=1)
    result = plugin_pytester.runpytest("--no-cost", "--adapter=stub")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --adapter=stub measures tokens, which --no-cost turned off; drop --no-cost, "
            "or drop --adapter to leave the calibration harness off"
        ]
    )


@pytest.mark.harness
def test_p_no_tokencost_leaves_the_harness_off(plugin_pytester: pytest.Pytester) -> None:
    copy_scenario(plugin_pytester.path, cases=1)
    plugin_pytester.makepyfile("def test_a(): pass")
    result = plugin_pytester.runpytest("-p", "no:tokencost", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_p_no_tokencost_leaves_the_harness_off.py::test_a"])
    assert "case-01" not in result.stdout.str()
    # and with the plugin, a calibration run still works and writes its report
    plugin_pytester.runpytest("-m", "calibration", "--adapter=stub").assert_outcomes(passed=1)
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    assert report["summary"]["totals"]["records"] > 0
