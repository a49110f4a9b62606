"""Cost gates inside pytest: --cost-compare-fail, --cost-fail-over, serial and under xdist."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from pytest_tokencost.history import read_runs
from pytest_tokencost.render import format_usd

#: These tests match whole report lines: a wide terminal keeps them unwrapped.
pytestmark = pytest.mark.usefixtures("wide_terminal")

# gpt-4o: 2.5 micro-USD an input token, 10 an output token (genai-prices 0.2.3).
SUITE = """
import os
from pytest_tokencost import Usage

def test_small(token_tracker):
    token_tracker.record(usage=Usage(input=1000, output=100), model="gpt-4o")

def test_big(token_tracker):
    token_tracker.record(usage=Usage(input=int(os.environ["BIG_IN"]), output=1000), model="gpt-4o")
"""


@pytest.fixture
def suite(plugin_pytester: pytest.Pytester) -> pytest.Pytester:
    """Two tests; the big one's input tokens come from $BIG_IN."""
    plugin_pytester.makepyfile(test_suite=SUITE)
    return plugin_pytester


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, big_in: int, *args: str
) -> pytest.RunResult:
    monkeypatch.setenv("BIG_IN", str(big_in))
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def _report(pytester: pytest.Pytester) -> dict[str, object]:
    return json.loads((pytester.path / ".tokencost" / "token-report.json").read_text())


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_gate_passes_unchanged_and_fails_on_20_percent_growth(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    gate = ["--cost-compare-fail=test-tokens:10%", "--cost-compare-fail=tokens:50%", *workers]
    _run(suite, monkeypatch, 10_000, *workers).assert_outcomes(passed=2)
    base = read_runs(suite.path / ".tokencost")[0].run_id

    unchanged = _run(suite, monkeypatch, 10_000, *gate)
    unchanged.assert_outcomes(passed=2)
    assert unchanged.ret == 0
    verdicts = _report(suite)["gates"]
    assert [v["status"] for v in verdicts] == ["pass", "pass"]
    assert _report(suite)["baseline"]["run_id"] == base

    # test_big: 10,000 + 1,000 = 11,000 tokens -> 12,200 + 1,000 = 13,200: +20%
    grown = _run(suite, monkeypatch, 12_200, *gate, "--cost-report")
    grown.assert_outcomes(passed=2)  # every test ran and passed; the run fails
    assert grown.ret == pytest.ExitCode.TESTS_FAILED
    grown.stdout.fnmatch_lines(
        [
            "Baseline: run * (????-??-?? ??:?? UTC; from history)",  # outside git: no branch@commit
            "Gate FAIL: --cost-compare-fail=test-tokens:10%: 1 test(s) grew past the limit of "
            "10% against base *: test_suite.py::test_big: 11,000 tokens -> 13,200 tokens (+20.0%)",
            # the run total grew 2,200 / 12,100 = 18.2%: within 50%
            "Gate PASS: --cost-compare-fail=tokens:50%: tokens within the limit of 50%: "
            "12,100 tokens (base *) -> 14,300 tokens (+18.2%)",
        ]
    )
    grown.stdout.fnmatch_lines(  # the test is named once, with its figures
        [
            "ERROR: cost gate failed: --cost-compare-fail=test-tokens:10%: 1 test(s) grew past "
            "the limit of 10% against base *: test_suite.py::test_big: 11,000 tokens -> "
            "13,200 tokens (+20.0%)"
        ]
    )
    assert grown.stdout.lines[-3].startswith(
        "ERROR: cost gate failed"
    )  # at the end, before the red line
    report = _report(suite)
    assert report["run"]["exit_status"] == 1
    fail = report["gates"][0]
    assert (fail["status"], fail["metric"], fail["base"], fail["head"], fail["limit"]) == (
        "fail",
        "test-tokens",
        11_000,
        13_200,
        "10%",
    )
    assert fail["offending_tests"] == ["test_suite.py::test_big"]
    # the history keeps the verdicts; the next comparison's baseline is the failed run
    latest = read_runs(suite.path / ".tokencost")[0]
    assert latest.status == "failed" and latest.gates[0]["status"] == "fail"


def test_absolute_limits_and_usd(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _run(suite, monkeypatch, 10_000).assert_outcomes(passed=2)
    # +2,000 input tokens = +5,000 micro-USD = $0.005
    result = _run(
        suite,
        monkeypatch,
        12_000,
        "--cost-compare-fail=input:1999",
        "--cost-compare-fail=usd:0.005",
        "--cost-compare-fail=test-usd:0.004",
        "--cost-compare-fail=output:0",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    statuses = {v["gate"]: v["status"] for v in _report(suite)["gates"]}
    assert statuses == {
        "--cost-compare-fail=input:1999": "fail",
        "--cost-compare-fail=usd:0.005": "pass",  # exactly at the limit
        "--cost-compare-fail=test-usd:0.004": "fail",
        "--cost-compare-fail=output:0": "pass",
    }
    result.stdout.fnmatch_lines(
        [
            "ERROR: cost gate failed: --cost-compare-fail=input:1999: input grew past the limit "
            "of 1,999 tokens: 11,000 tokens (base *) -> 13,000 tokens (+18.2%)",
            "ERROR: cost gate failed: --cost-compare-fail=test-usd:0.004: 1 test(s) grew past "
            "the limit of $0.004 against base *: test_suite.py::test_big: $0.0350 -> $0.0400 "
            "(+14.3%)*",
        ]
    )


def test_no_baseline_is_a_warning(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(suite, monkeypatch, 10_000, "--cost-compare-fail=tokens:10%")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["Warning: no baseline to compare with: no earlier run in the history of *"]
    )
    (verdict,) = _report(suite)["gates"]
    assert verdict["status"] == "no-baseline"
    assert _report(suite)["baseline"]["run_id"] is None
    # an explicit baseline that is not there (CI's artifact of main not found): a warning too
    result = _run(
        suite,
        monkeypatch,
        10_000,
        "--cost-compare=missing/token-report.json",
        "--cost-compare-fail=tokens:10%",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*No baseline: no token-report.json at missing/token-report.json*"]
    )


def test_compare_with_a_saved_report_folder(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(suite, monkeypatch, 10_000, "--cost-dir=main-run").assert_outcomes(passed=2)
    result = _run(
        suite, monkeypatch, 13_000, "--cost-compare=main-run", "--cost-compare-fail=tokens:10%"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*Token & Cost: compared with main-run*",
            "Base: *, from main-run/token-report.json",
            "Tokens: * 12,100 -> * 15,100 (+3,000, +24.8%)",
            "ERROR: cost gate failed: --cost-compare-fail=tokens:10%*",
        ]
    )
    assert _report(suite)["baseline"]["source"].endswith("main-run/token-report.json")


def test_auto_baseline_prefers_the_same_branch_and_skips_interrupted(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_tokencost.gate_options import HistorySettings
    from pytest_tokencost.run_history import RunHistory

    _run(suite, monkeypatch, 10_000).assert_outcomes(passed=2)
    _run(suite, monkeypatch, 20_000).assert_outcomes(passed=2)
    folder = suite.path / ".tokencost"
    first, second = reversed(read_runs(folder))
    import sqlite3

    with sqlite3.connect(folder / "history.sqlite") as connection:
        connection.execute("UPDATE runs SET git_branch = 'main' WHERE run_id = ?", (first.run_id,))
        connection.execute(
            "UPDATE runs SET git_branch = 'other' WHERE run_id = ?", (second.run_id,)
        )
    history = RunHistory(HistorySettings(), suite.path)
    from pytest_tokencost.gitinfo import GitInfo

    history._git = GitInfo("abc", "main", False)
    assert history._auto_baseline(folder, "this-run").run_id == first.run_id
    history._git = GitInfo("abc", "feature", False)  # no run on it: the latest
    assert history._auto_baseline(folder, "this-run").run_id == second.run_id
    with sqlite3.connect(folder / "history.sqlite") as connection:
        connection.execute("UPDATE runs SET interrupted = 1 WHERE run_id = ?", (second.run_id,))
    assert history._auto_baseline(folder, "this-run").run_id == first.run_id


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_fail_over(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    # 1,100 + 11,000 = 12,100 tokens; 3,500 + 35,000 = 38,500 micro-USD
    ok = _run(
        suite,
        monkeypatch,
        10_000,
        "--cost-fail-over=tokens:12100",
        "--cost-fail-over=usd:0.0385",
        *workers,
    )
    ok.assert_outcomes(passed=2)
    assert ok.ret == 0
    assert [v["status"] for v in _report(suite)["gates"]] == ["pass", "pass"]
    over = _run(suite, monkeypatch, 10_001, "--cost-fail-over=tokens:12100", *workers)
    over.assert_outcomes(passed=2)
    assert over.ret == pytest.ExitCode.TESTS_FAILED
    over.stdout.fnmatch_lines(
        [
            "ERROR: cost gate failed: --cost-fail-over=tokens:12100: the run's total is 12,101 "
            "tokens, over the limit of 12,100 tokens"
        ]
    )


def test_fail_over_from_the_ini_file(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.makeini("[pytest]\ntokencost_fail_over = usd:0.01\ntokencost_compare_fail = tokens:1%\n")
    result = _run(suite, monkeypatch, 10_000)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["ERROR: cost gate failed: --cost-fail-over=usd:0.01: the run's cost is $0.0385, over*"]
    )
    assert [v["status"] for v in _report(suite)["gates"]] == ["no-baseline", "fail"]


def test_unpriced_costs_warn(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        """
        from pytest_tokencost import Usage
        def test_unknown(token_tracker):
            token_tracker.record(usage=Usage(input=10, output=1), model="no-such-model-xyz")
        """
    )
    plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    result = plugin_pytester.runpytest(
        "-p", "no:cacheprovider", "--cost-compare-fail=usd:10%", "--cost-fail-over=usd:1"
    )
    assert result.ret == 0
    assert [v["status"] for v in _report(plugin_pytester)["gates"]] == [
        "not-recorded",
        "not-recorded",
    ]
    result.stdout.fnmatch_lines(
        ["Warning: --cost-compare-fail=usd:10% not checked: the cost is not recorded*"]
    )


def test_a_gate_names_each_offending_test_once(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven tests grew: the ERROR line gives the five that grew most with their figures, then
    names the other two, and no test twice."""
    plugin_pytester.makepyfile(
        test_many="""
        import os
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.parametrize("n", range(7))
        def test_each(token_tracker, n):
            grow = int(os.environ["GROW"])
            token_tracker.record(usage=Usage(input=1000 + grow * n, output=100), model="gpt-4o")
        """
    )
    monkeypatch.setenv("GROW", "0")
    plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=7)
    monkeypatch.setenv("GROW", "500")  # test n grows by 500 * n tokens; n = 0 does not
    result = plugin_pytester.runpytest(
        "-p", "no:cacheprovider", "--cost-compare-fail=test-tokens:10%"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    (line,) = [x for x in result.stdout.lines if x.startswith("ERROR: cost gate failed")]
    for n in range(1, 7):
        assert line.count(f"test_each[{n}]") == 1, line
    assert "test_each[0]" not in line
    assert line.endswith("and 1 more (the other tests: test_many.py::test_each[1])"), line
    assert "test_many.py::test_each[6]: 1,100 tokens -> 4,100 tokens (+272.7%)" in line


def test_fail_over_on_a_partly_unpriced_run_says_at_least(
    plugin_pytester: pytest.Pytester, corpus: Path
) -> None:
    """A run with a record no price is known for has no total cost; when its priced records
    alone are over the limit, the gate fails and says "at least" that much, not that the
    priced part is the run's cost."""
    import genai_prices
    import yaml

    recorded = yaml.safe_load(
        (corpus / "anthropic" / "pydantic-ai__messages_cache_read_and_write.yaml").read_text()
    )
    message = recorded["interactions"][0]["response"]["parsed_body"]
    plugin_pytester.makepyfile(
        test_mixed=f"""
        import json

        MESSAGE = json.loads({json.dumps(json.dumps(message))})

        def test_priced(token_tracker):
            token_tracker.observe(MESSAGE)

        def test_unpriced(token_tracker):
            token_tracker.observe(dict(MESSAGE, id="msg_other", model="acme-inhouse-7b"))
        """
    )
    result = plugin_pytester.runpytest(
        "-p", "no:cacheprovider", "--cost-fail-over=usd:0.001", "--cost-fail-over=usd:1"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # input 3 + 1,111 cache read, output 406 (SOURCES.md), priced by genai-prices
    usage = genai_prices.Usage(input_tokens=1_114, cache_read_tokens=1_111, output_tokens=406)
    price = genai_prices.calc_price(usage, message["model"], provider_id="anthropic")
    priced = format_usd(int(price.total_price * 1_000_000 + Decimal("0.5")))
    result.stdout.fnmatch_lines(
        [
            "ERROR: cost gate failed: --cost-fail-over=usd:0.001: the run's cost is at least "
            f"{priced} (1 record(s) have no price), over the limit of $0.001"
        ]
    )
    gates = {v["gate"]: v["status"] for v in _report(plugin_pytester)["gates"]}
    assert gates == {"--cost-fail-over=usd:0.001": "fail", "--cost-fail-over=usd:1": "not-recorded"}
