"""Values no budget, timeout or file reader can use: a usage error naming the input, never a crash.

Budgets are stored as whole tokens or micro-USD in 64-bit integers (the session ledger is
SQLite): a budget must be finite, positive, at least one micro-USD, and at most
`budget.MAX_LIMIT` (10**15 tokens, or $1,000,000,000).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_tokencost import cli
from pytest_tokencost.budget import MAX_LIMIT, Channel, limits_from_kwargs

from .conftest import copy_scenario


def _one_error_line(result: pytest.RunResult) -> str:
    """The usage error's single line (pytest prints `ERROR: <message>` on stderr)."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    lines = [line for line in result.stderr.lines if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR: ")
    return lines[0]


# -- session budgets and timeouts on the command line and in the ini file ---------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cost-budget-usd=1e-9"],
            "ERROR: --cost-budget-usd: 1e-09 rounds to $0 (budgets count whole micro-USD, "
            "$0.000001); give a larger budget",
        ),
        (
            ["--cost-budget-usd", "0.0000004"],
            "ERROR: --cost-budget-usd: 4e-07 rounds to $0 (budgets count whole micro-USD, "
            "$0.000001); give a larger budget",
        ),
        (
            ["--cost-budget-usd=1e10"],
            "ERROR: --cost-budget-usd: 1e+10 is too large; give at most 1,000,000,000 dollars",
        ),
        (
            ["--cost-budget-tokens=1e30"],
            "ERROR: --cost-budget-tokens: 1e+30 is too large; give at most "
            "1,000,000,000,000,000 tokens",
        ),
        (
            ["--cost-budget-tokens=2.5"],
            "ERROR: --cost-budget-tokens: must be a whole number of tokens, got 2.5",
        ),
    ],
)
def test_budgets_the_pool_cannot_hold_are_one_line_usage_errors(
    plugin_pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    plugin_pytester.makepyfile("def test_a(): pass")
    assert _one_error_line(plugin_pytester.runpytest(*args)) == message


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (
            "tokencost_budget_usd = inf",
            "ERROR: ini tokencost_budget_usd: 'inf' is not a positive finite number",
        ),
        (
            "tokencost_budget_usd = nan",
            "ERROR: ini tokencost_budget_usd: 'nan' is not a positive finite number",
        ),
        (
            "tokencost_budget_usd = 0.0000001",
            "ERROR: ini tokencost_budget_usd: 1e-07 rounds to $0 (budgets count whole "
            "micro-USD, $0.000001); give a larger budget",
        ),
        (
            "tokencost_budget_tokens = 1e30",
            "ERROR: ini tokencost_budget_tokens: 1e+30 is too large; give at most "
            "1,000,000,000,000,000 tokens",
        ),
        (
            "tokencost_warn_at = nan",
            "ERROR: ini tokencost_warn_at: 'nan' is not a fraction in (0, 1], e.g. 0.8",
        ),
    ],
)
def test_bad_ini_budgets_name_the_ini_key(
    plugin_pytester: pytest.Pytester, ini: str, message: str
) -> None:
    plugin_pytester.makeini(f"[pytest]\n{ini}\n")
    plugin_pytester.makepyfile("def test_a(): pass")
    assert _one_error_line(plugin_pytester.runpytest()) == message


@pytest.mark.parametrize(
    "key",
    [
        "tokencost_capture",
        "tokencost_strict",
        "tokencost_default_rate_unknown_models",
        "tokencost_disable",
        "tokencost_report",
        "tokencost_history",
    ],
)
def test_a_bad_true_or_false_ini_value_names_its_key(
    plugin_pytester: pytest.Pytester, key: str
) -> None:
    plugin_pytester.makeini(f"[pytest]\n{key} = maybe\n")
    plugin_pytester.makepyfile("def test_a(): pass")
    assert _one_error_line(plugin_pytester.runpytest()) == (
        f"ERROR: ini {key}: invalid truth value 'maybe'; use true or false"
    )


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("--cost-budget-usd=inf", "argument --cost-budget-usd: 'inf' is not a positive finite"),
        ("--cost-budget-usd=nan", "argument --cost-budget-usd: 'nan' is not a positive finite"),
        ("--cost-budget-usd=-inf", "argument --cost-budget-usd: '-inf' is not a positive"),
        ("--cost-budget-tokens=inf", "argument --cost-budget-tokens: 'inf' is not a positive"),
        ("--cost-warn-at=nan", "argument --cost-warn-at: 'nan' is not a fraction in (0, 1]"),
        pytest.param(
            "--adapter-timeout=inf",
            "argument --adapter-timeout: 'inf' is not a positive finite",
            marks=pytest.mark.harness,
        ),
        pytest.param(
            "--adapter-timeout=nan",
            "argument --adapter-timeout: 'nan' is not a positive finite",
            marks=pytest.mark.harness,
        ),
        pytest.param(
            "--adapter-timeout=1e300",
            "argument --adapter-timeout: '1e300' seconds is too long; give at most 1,000,000",
            marks=pytest.mark.harness,
        ),
    ],
)
def test_non_finite_option_values_are_refused_by_the_option_parser(
    plugin_pytester: pytest.Pytester, arg: str, message: str
) -> None:
    # pytest reports option-type errors in argparse's form: a usage line, then
    # "error: argument --OPTION: MESSAGE", then the ini file and rootdir it used.
    plugin_pytester.makepyfile("def test_a(): pass")
    result = plugin_pytester.runpytest(arg)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines([f"*error: {message}*"])


def test_the_largest_budgets_are_stored_and_reported_exactly(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(
        """
        from pytest_tokencost import Usage

        def test_spend(token_tracker):
            token_tracker.record(usage=Usage(input=700, output=300), model="gpt-4o")
        """
    )
    result = plugin_pytester.runpytest(
        f"--cost-budget-tokens={MAX_LIMIT:_}", "--cost-budget-usd=1000000000", "-n", "2"
    )
    result.assert_outcomes(passed=1)
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    session = {b["channel"]: b for b in report["budgets"] if b["scope"] == "session"}
    assert session["tokens"]["limit"] == MAX_LIMIT
    assert session["tokens"]["used"] == 1_000
    assert session["tokens"]["remaining"] == MAX_LIMIT - 1_000
    # gpt-4o: $2.50 / $10 per MTok -> 700 * 2.5 + 300 * 10 = 4,750 micro-USD.
    assert session["micro_usd"]["limit"] == MAX_LIMIT
    assert session["micro_usd"]["used"] == 4_750


def test_the_smallest_usd_budget_is_one_micro_usd(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile("def test_a(): pass")
    result = plugin_pytester.runpytest("--cost-budget-usd=0.000001", "--cost-report")
    result.assert_outcomes(passed=1)
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    assert [(b["channel"], b["limit"]) for b in report["budgets"]] == [("micro_usd", 1)]


# -- marker, step and scenario budgets ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": float("inf")}, "here: max_tokens must be finite, got inf"),
        ({"max_usd": float("inf")}, "here: max_usd must be finite, got inf"),
        ({"max_input": float("-inf")}, "here: max_input must be positive, got -inf"),
        ({"max_output": float("nan")}, "here: max_output must be a number, got nan"),
        (
            {"max_usd": 1e-9},
            r"here: max_usd=1e-09 rounds to \$0 \(budgets count whole micro-USD, \$0.000001\)",
        ),
        (
            {"max_tokens": 10**30},
            "here: max_tokens=1000000000000000000000000000000 is too large; give at most "
            "1,000,000,000,000,000 tokens",
        ),
        ({"max_tokens": 1e16}, "here: max_tokens=1e[+]16 is too large"),
        (
            {"max_usd": 2e9},
            "here: max_usd=2000000000.0 is too large; give at most 1,000,000,000 dollars",
        ),
    ],
)
def test_budget_keywords_that_cannot_be_stored(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        limits_from_kwargs(kwargs, "here")


def test_budget_keyword_boundaries() -> None:
    assert limits_from_kwargs({"max_usd": 0.000001}, "x") == {Channel.MICRO_USD: 1}
    assert limits_from_kwargs({"max_usd": 1e9, "max_tokens": MAX_LIMIT}, "x") == {
        Channel.MICRO_USD: MAX_LIMIT,
        Channel.TOKENS: MAX_LIMIT,
    }


def test_a_bad_marker_or_step_budget_fails_its_test_only(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(max_usd=1e-9)
        def test_marker(token_tracker):
            pass

        def test_step(token_tracker):
            with token_tracker.step("plan", max_tokens=float("inf")):
                pass

        def test_zero_in_a_case(token_tracker):
            with token_tracker.case("c1"), token_tracker.step("act", max_tokens=0):
                pass

        def test_case_id(token_tracker):
            with token_tracker.case(""):
                pass

        def test_fine(token_tracker):
            pass
        """
    )
    result = plugin_pytester.runpytest("-n", "2")
    result.assert_outcomes(passed=1, failed=3, errors=1)
    output = result.stdout.str()
    assert "INTERNALERROR" not in output
    result.stdout.fnmatch_lines_random(
        [
            "*max_usd=1e-09 rounds to $0 (budgets count whole micro-USD, $0.000001)*",
            "*plan: max_tokens must be finite, got inf*",
            "E * ValueError: step act: max_tokens must be positive, got 0",
            "E * TypeError: case id must be a non-empty string, got ''",
        ]
    )
    # A bad scope argument is the test's error, shown at its line: no frame of the plugin's
    # (or of contextlib's, which a generator-based scope would add).
    assert "pytest_tokencost/" not in output
    assert "contextlib.py" not in output


# -- files that are not text --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", "is not UTF-8 text (byte 1)"),  # gzip
        (b'{"schema_version": 1, "run": "caf\xe9"}', "is not UTF-8 text (byte 33)"),  # latin-1
        (b"[" * 100_000, "is nested too deeply to be a report"),
    ],
    ids=["gzip", "latin-1", "deep"],
)
def test_tokencost_report_on_a_file_that_is_not_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "token-report.json"
    path.write_bytes(content)
    assert cli.main(["report", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"tokencost: error: report {path} {message}" + (
        "; is it the right file?\n" if "UTF-8" in message else "\n"
    )


def test_a_price_file_that_is_not_utf8_is_a_usage_error(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.path.joinpath("prices.toml").write_bytes(
        b'[models."acme-1"]\ninput_mtok = 1\noutput_mtok = 2\n# \xa3 per MTok\n'
    )
    plugin_pytester.makepyfile("def test_a(token_tracker): pass")
    line = _one_error_line(plugin_pytester.runpytest("--cost-prices=prices.toml"))
    assert line == (
        f"ERROR: price file {plugin_pytester.path / 'prices.toml'} is not UTF-8 text "
        "(byte 51); TOML files are UTF-8"
    )


@pytest.mark.harness
def test_a_scenario_file_that_is_not_utf8_is_a_collection_error(
    plugin_pytester: pytest.Pytester,
) -> None:
    scenario = copy_scenario(plugin_pytester.path, cases=1)
    case = scenario / "cases" / "case-01.toml"
    case.write_bytes(case.read_bytes().replace(b"title = ", b"title = \xe9 ", 1))
    result = plugin_pytester.runpytest("-m", "calibration", "--adapter=stub")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the run
    output = result.stdout.str()
    assert "INTERNALERROR" not in output and "UnicodeDecodeError" not in output
    result.stdout.fnmatch_lines([f"*{case}: not UTF-8 text (byte *)*"])


# -- the harness without the plugin -------------------------------------------------------------


@pytest.mark.harness
def test_the_harness_without_the_plugin_says_it_needs_it(
    plugin_pytester: pytest.Pytester,
) -> None:
    copy_scenario(plugin_pytester.path, cases=1)
    plugin_pytester.makepyfile("def test_a(): pass")
    line = _one_error_line(plugin_pytester.runpytest("-p", "no:tokencost", "--adapter=stub"))
    assert line == (
        "ERROR: --adapter=stub needs the tokencost plugin, which -p no:tokencost disabled; "
        "drop -p no:tokencost, or drop --adapter to leave the calibration harness off"
    )
    # Without --adapter the harness stays off: scenarios are not collected, tests run.
    result = plugin_pytester.runpytest("-p", "no:tokencost")
    result.assert_outcomes(passed=1)
