"""The Token & Cost section in the terminal: width, --cost-top, term:brief, -v, colour, money."""

from __future__ import annotations

import pytest

from pytest_tokencost.money import format_usd
from pytest_tokencost.render import shorten_middle

LONG = "a-very-long-parameter-value-that-makes-the-test-id-far-wider-than-any-terminal"

SUITE = f"""
import pytest
from pytest_tokencost import Usage

@pytest.mark.parametrize("variant", ["{LONG}", "b"])
def test_summarise_a_long_document_with_many_sections(token_tracker, variant):
    with token_tracker.step("summarise"):
        token_tracker.record(model="gpt-4o", provider="openai",
                             usage=Usage(input=12_000, output=3_400, cache_read=2_000))
    token_tracker.record(step="rerank", model="claude-sonnet-4",
                         usage=Usage(input=1_000, output=100, cache_write=500))

@pytest.mark.token_budget(max_tokens=20_000)
def test_unknown(token_tracker):
    token_tracker.record(model="in-house-7b", usage=Usage(input=17_000, output=10))

@pytest.mark.token_budget(max_tokens=100)
def test_over(token_tracker):
    token_tracker.record(model="gpt-4o", usage=Usage(input=150, output=0))
"""


@pytest.fixture
def suite(plugin_pytester: pytest.Pytester) -> pytest.Pytester:
    plugin_pytester.makepyfile(test_wide=SUITE)
    return plugin_pytester


def _section(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "Token & Cost" in line)
    end = next(i for i in range(start + 1, len(lines)) if "=" * 5 in lines[i])
    return lines[start:end]


@pytest.mark.parametrize("columns", [80, 200])
def test_no_line_of_the_section_is_wider_than_the_terminal(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = suite.runpytest("--cost-report", "-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=1)
    section = _section(result.stdout.str())
    assert len(section) > 20
    too_wide = [line for line in section if len(line) > columns]
    assert too_wide == []
    text = "\n".join(section)
    if columns == 80:
        # The long id keeps its file and its end; the money columns stay.
        assert LONG not in text
        assert "test_wide.py::test_s..." in text and "-any-terminal]" in text
        assert "input" in text and "cost" in text
    else:
        assert f"test_wide.py::test_summarise_a_long_document_with_many_sections[{LONG}]" in text
        assert "priced by" in text and "reasoning" in text  # every column at 200


def test_cost_top_and_term_brief(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--cost-report", "--cost-top=1")
    result.stdout.fnmatch_lines(["Top tests by cost (1 of 4):", "test *", "-*", "test_wide.py::*"])
    assert "Top tests by cost" not in suite.runpytest("--cost-report", "--cost-top=0").stdout.str()
    brief = suite.runpytest("--cost-report=term:brief").stdout.str()
    assert "Total:" in brief and "Budgets:" in brief
    assert "Top tests" not in brief and "Per model:" not in brief
    bad = suite.runpytest("--cost-top=-1")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--cost-top: '-1' is not a whole number >= 0*"])


def test_verbose_result_lines_carry_tokens_and_cost(suite: pytest.Pytester) -> None:
    # gpt-4o: (12,000 - 2,000) x $2.50 + 2,000 x $1.25 + 3,400 x $10 per MTok = 61,500 micro;
    # claude-sonnet-4: 500 x $3 + 500 x $3.75 + 100 x $15 = 4,875 micro. 66,375 = $0.0664.
    result = suite.runpytest("-v", "-rA", "-p", "no:randomly")
    result.stdout.fnmatch_lines(
        [
            "*test_summarise_a_long_document_with_many_sections?b? PASSED "
            "(16,500 tokens, $0.0664)*",
            "*::test_unknown PASSED (17,010 tokens, not recorded)*",
            "*::test_over FAILED (150 tokens, $0.000375)*",
        ]
    )
    # The short summary at the end keeps pytest's plain status word.
    result.stdout.fnmatch_lines(["FAILED test_wide.py::test_over - *TokenBudgetExceeded*"])
    quiet = suite.runpytest().stdout.str()
    assert "tokens," not in quiet


def test_xdist_verbose_result_lines(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-v", "-n", "2")
    result.stdout.fnmatch_lines(
        ["*PASSED (17,010 tokens, not recorded)*test_wide.py::test_unknown*"]
    )


def test_colour_follows_color_and_no_color(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    coloured = _section(suite.runpytest("--cost-report", "--color=yes").stdout.str())
    exceeded = next(line for line in coloured if "exceeded" in line)
    warn = next(line for line in coloured if line.rstrip().endswith("warn\x1b[0m"))
    assert exceeded.startswith("\x1b[31m")  # red
    assert warn.startswith("\x1b[33m")  # yellow
    assert any(line.startswith("\x1b[33mNot recorded:") for line in coloured)
    plain = suite.runpytest("--cost-report", "--color=no").stdout.str()
    assert "\x1b[" not in "\n".join(_section(plain))
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in "\n".join(_section(suite.runpytest("--cost-report").stdout.str()))


def test_a_budget_failure_is_one_line_without_the_plugins_frames(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-k", "test_over")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            '>       token_tracker.record(model="gpt-4o", usage=Usage(input=150, output=0))',
            "E       pytest_tokencost.budget.TokenBudgetExceeded: token budget exceeded: test "
            "test_wide.py::test_over spent 150 of its 100 tokens budget",
        ]
    )
    assert "pytest_tokencost/tracker.py" not in out and "pytest_tokencost/budget.py" not in out


def test_tests_skipped_by_the_session_budget_are_reported_at_the_test(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(
        test_gate="""
        from pytest_tokencost import Usage

        def test_spend(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=2_000, output=0))

        def test_later():
            pass
        """
    )
    result = plugin_pytester.runpytest("--cost-budget-tokens=1000", "-rs", "-p", "no:randomly")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED [1] test_gate.py:6: not run: the session token budget is exhausted"]
    )
    assert "item_hooks.py" not in result.stdout.str()


@pytest.mark.parametrize(
    ("micro_usd", "text"),
    [
        (0, "$0.00"),
        (1, "$0.000001"),
        (15, "$0.000015"),
        (123, "$0.000123"),
        (2_196, "$0.00220"),
        (91_000, "$0.0910"),
        (140_500, "$0.141"),  # half up
        (999_999, "$1.00"),
        (1_000_000, "$1.00"),
        (12_345_678_901, "$12,345.68"),
        (-2_196, "-$0.00220"),
        (None, "not recorded"),
    ],
)
def test_one_money_rule(micro_usd: int | None, text: str) -> None:
    assert format_usd(micro_usd) == text


def test_shorten_middle_keeps_both_ends() -> None:
    assert shorten_middle("tests/test_a.py::test_b[long-param]", 20) == "tests/tes...g-param]"
    assert len(shorten_middle("x" * 100, 13)) == 13
    assert shorten_middle("short", 13) == "short"
