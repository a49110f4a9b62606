"""Options and ini keys as a user sees them in `pytest --help`, and their validation."""

from __future__ import annotations

import pytest

HELP = """\
token and cost accounting (pytest-tokencost):
  --cost-report=[TYPE]  Report tokens and cost: 'term' prints the Token & Cost
                        section (the default when no TYPE is given),
                        'term:brief' its totals only, 'json:PATH' writes a copy
                        of token-report.json to PATH, 'markdown[:PATH]' a
                        Markdown summary (default token-report.md in the output
                        folder), 'html[:PATH]' the HTML page (default
                        token-report.html). Repeatable. Default: None
  --cost-top=N          How many tests the 'Top tests by cost' tables show (0:
                        none). Default: 10
  --no-cost             Turn token accounting off: token_tracker and the
                        token_budget marker still work, as no-ops; nothing is
                        written or printed. Default: False
  --cost-dir=DIR        Output folder, created git-ignored. Default:
                        '.tokencost' under the rootdir
  --cost-prices=PATH    TOML file of per-model prices (USD per million tokens)
                        that win over genai-prices. Default: None
  --cost-strict         Fail the run when any record has no known price.
                        Default: False
  --cost-default-rate=IN,OUT
                        USD per million input,output tokens for records with no
                        model. Default: '3,15'
  --cost-default-rate-unknown
                        Also price models that no price source knows at the
                        default rate (labelled) instead of leaving them not
                        recorded. Default: False
  --cost-budget-usd=USD
                        Session budget in dollars, shared by xdist workers: warn
                        at --cost-warn-at, stop the run at 100%. Default: None
  --cost-budget-tokens=N
                        Session budget in tokens (input + output). Default: None
  --cost-warn-at=FRACTION
                        Share of a budget at which to warn. Default: 0.8
""".splitlines()


def test_help_lists_the_options_and_ini_keys(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = plugin_pytester.runpytest("--help")
    lines = result.stdout.lines
    start = lines.index(HELP[0])
    assert lines[start : start + len(HELP)] == HELP
    result.stdout.fnmatch_lines(
        [
            "  tokencost_dir (string):*",
            "  tokencost_prices (string):*",
            "  tokencost_strict (bool):*",
            "  tokencost_default_rate (string):*",
            "  tokencost_default_rate_unknown_models (bool):*",
            "  tokencost_disable (bool):*",
            "  tokencost_github_summary (string):*",
            "  tokencost_report (bool):*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "  --cost-no-history     Do not add this run to history.sqlite in the output",
            "  --cost-history-keep=N",
            "  --cost-compare=?REF?  Print a 'Token & Cost: compared with REF' section. REF:",
            "  --cost-compare-fail=METRIC:LIMIT",
            "  --cost-fail-over=METRIC:AMOUNT",
            "  tokencost_history (bool):*",
            "  tokencost_history_keep (string):*",
            "  tokencost_compare_fail (args):*",
            "  tokencost_fail_over (args):*",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cost-report=xml"],
            "'xml' is not a report target; use term, term:brief, json:PATH, markdown, "
            "markdown:PATH, html, html:PATH",
        ),
        (["--cost-report=term:x"], "term takes no path (got 'term:x'); did you mean term:brief?"),
        (["--cost-report=json"], "json needs a path: --cost-report=json:PATH"),
        (["--cost-default-rate=3"], "'3' is not a rate; give INPUT,OUTPUT"),
        (["--cost-warn-at=1.5"], "'1.5' is not a fraction in (0, 1]"),
        (["--cost-budget-usd=-2"], "'-2' is not a positive finite number"),
    ],
)
def test_bad_option_values_are_usage_errors(
    plugin_pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = plugin_pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_a_bad_ini_rate_is_a_usage_error(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makeini("[pytest]\ntokencost_default_rate = three dollars\n")
    result = plugin_pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini tokencost_default_rate: 'three dollars' is not a rate*"])
