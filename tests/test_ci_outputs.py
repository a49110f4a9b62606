"""CI outputs: --cost-report=markdown, the GitHub step summary and annotations, JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SUITE = """
import pytest
from pytest_tokencost import Usage

def test_gpt(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai",
                         usage=Usage(input=12_000, output=3_400, cache_read=2_000))

@pytest.mark.token_budget(max_tokens=1_000)
def test_claude(token_tracker):
    token_tracker.record(model="claude-sonnet-4", provider="anthropic",
                         usage=Usage(input=850, output=50))

def test_unknown(token_tracker):
    token_tracker.record(model="in-house-7b", usage=Usage(input=100, output=10))

def test_a_b_pipe(token_tracker):
    pass
"""
# By hand, micro-USD (USD per MTok x tokens):
#   gpt-4o: 10,000 x 2.50 + 2,000 x 1.25 + 3,400 x 10 = 61,500
#   claude-sonnet-4: 850 x 3 + 50 x 15 = 3,300 (900 of 1,000 tokens: the budget warns)
#   in-house-7b: not recorded


@pytest.fixture
def suite(plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    plugin_pytester.makepyfile(test_ci=SUITE)
    return plugin_pytester


def _tables(markdown: str) -> list[list[list[str]]]:
    """Every Markdown table as rows of cells (header first, alignment row dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if not all(set(c) <= set("-:") for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_markdown_target_holds_totals_tests_models_and_budgets(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--cost-report=markdown:out/cost.md")
    result.assert_outcomes(passed=4)
    path = suite.path / "out" / "cost.md"
    result.stdout.fnmatch_lines([f"tokencost: Markdown summary written to {path}"])
    markdown = path.read_text()
    assert markdown.startswith("## Token & Cost\n")
    totals, tests, models, budgets = _tables(markdown)
    assert totals[0] == ["", "tokens", "cost"]
    assert totals[1] == [
        "Input (prompts)",
        "12,950",
        "$0.0301 + 1 not recorded",
    ]  # 25,000 + 2,500 + 2,550
    assert totals[2] == ["Output (artifacts)", "3,460", "$0.0348 + 1 not recorded"]  # 34,000 + 750
    assert totals[3] == ["**Total**", "**16,410**", "**$0.0648 + 1 not recorded**"]
    assert tests[0] == ["test", "input", "output", "total", "cost"]
    assert tests[1] == ["`test_ci.py::test_gpt`", "12,000", "3,400", "15,400", "$0.0615"]
    assert tests[2] == ["`test_ci.py::test_claude`", "850", "50", "900", "$0.00330"]
    assert tests[3][4] == "not recorded"
    assert [row[0] for row in models[1:]] == ["`claude-sonnet-4`", "`gpt-4o`", "`in-house-7b`"]
    assert budgets[1] == [
        "test test_ci.py::test_claude",
        "tokens",
        "1,000",
        "900",
        "90%",
        "**warn**",
    ]
    assert "Not recorded (no known price): in-house-7b." in markdown


def test_markdown_default_path_and_json_without_a_path(suite: pytest.Pytester) -> None:
    # Under xdist the controller alone writes (the workers' payloads reach it first).
    result = suite.runpytest("--cost-report=markdown", "--cost-report=json:copy.json", "-n", "2")
    default = suite.path / ".tokencost" / "token-report.md"
    result.stdout.fnmatch_lines(
        [
            f"tokencost: JSON report written to {suite.path / 'copy.json'}",
            f"tokencost: Markdown summary written to {default}",
        ]
    )
    assert default.read_text().startswith("## Token & Cost")
    assert "| `test_ci.py::test_gpt` | 12,000 | 3,400 | 15,400 | $0.0615 |" in default.read_text()
    bad = suite.runpytest("--cost-report=json")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*json needs a path: --cost-report=json:PATH*always written*"])


def test_github_step_summary_and_annotations(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("# Earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    suite.makeconftest(
        """
        from pytest_tokencost.ci import SummarySection

        def pytest_tokencost_summary_sections(report, config):
            return [SummarySection("Cost gate", [f"records: {report.summary.totals.records}"])]
        """
    )
    result = suite.runpytest("--cost-budget-tokens=10000")
    # test_gpt's 15,400 tokens exhaust the session budget; the three tests after it are not run.
    result.assert_outcomes(failed=1, skipped=3)
    text = summary.read_text()
    assert text.startswith("# Earlier step\n## Token & Cost\n")  # appended, never replaced
    assert "### Cost gate\n\nrecords: 1\n" in text  # the extra section, from the hook
    assert "> **Error:** session token budget exhausted: tokens: 15,400 of 10,000" in text
    result.stdout.fnmatch_lines(
        [
            # GitHub's runner reads %25 as a percent sign
            "::error title=token budget::session: tokens budget exceeded: 15,400 of 10,000 "
            "(154%25)",
            "::error title=tokencost::session token budget exhausted: *",
            "ERROR: session token budget exhausted: *",
        ]
    )


def test_budget_warning_annotation_and_off_switches(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = suite.runpytest()
    result.stdout.fnmatch_lines(
        [
            "::warning title=token budget::test test_ci.py::test_claude: tokens budget warn: "
            "900 of 1,000 (90%25)"
        ]
    )
    assert "::error" not in result.stdout.str()
    assert summary.read_text().count("## Token & Cost") == 1
    suite.makeini("[pytest]\ntokencost_github_summary = false\n")
    suite.runpytest()
    assert summary.read_text().count("## Token & Cost") == 1  # not written again
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    assert "::warning" not in suite.runpytest().stdout.str()
    suite.makeini("[pytest]\ntokencost_github_summary = sometimes\n")
    bad = suite.runpytest()
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*tokencost_github_summary: 'sometimes' is not one of auto*"])


def test_github_summary_true_writes_even_when_nothing_was_recorded(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    plugin_pytester.makepyfile("def test_a(): pass")
    plugin_pytester.runpytest().assert_outcomes(passed=1)
    assert not summary.exists()  # auto: nothing recorded, nothing said
    plugin_pytester.makeini("[pytest]\ntokencost_github_summary = true\n")
    plugin_pytester.runpytest().assert_outcomes(passed=1)
    assert "No tokens recorded." in summary.read_text()


def _junit(path: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    totals = {p.get("name", ""): p.get("value", "") for p in suite.findall("properties/property")}
    cases = {
        case.get("name", ""): {
            p.get("name", ""): p.get("value", "") for p in case.findall("properties/property")
        }
        for case in suite.findall("testcase")
    }
    return totals, cases


@pytest.mark.parametrize("workers", ["0", "2"])
def test_junit_xml_properties_per_test_and_for_the_run(
    suite: pytest.Pytester, workers: str
) -> None:
    result = suite.runpytest("--junitxml=junit.xml", "-n", workers)
    result.assert_outcomes(passed=4)
    totals, cases = _junit(suite.path / "junit.xml")
    assert cases["test_gpt"] == {
        "tokencost_input": "12000",
        "tokencost_output": "3400",
        "tokencost_cache_read": "2000",
        "tokencost_cost_usd": "0.061500",
    }
    assert cases["test_claude"] == {
        "tokencost_input": "850",
        "tokencost_output": "50",
        "tokencost_cost_usd": "0.003300",
    }
    # Not recorded: no cost property, never 0; cache counts nobody reported are absent too.
    assert cases["test_unknown"] == {"tokencost_input": "100", "tokencost_output": "10"}
    assert cases["test_a_b_pipe"] == {"tokencost_input": "0", "tokencost_output": "0"}
    assert totals == {
        "tokencost_records": "3",
        "tokencost_input": "12950",
        "tokencost_output": "3460",
        "tokencost_cache_read": "2000",
    }


def test_markdown_groups_a_models_dated_and_undated_names_as_the_section_does(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One model called by its alias and by its dated name is one row, with a names note."""
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    plugin_pytester.makepyfile(
        """
        from pytest_tokencost import Usage

        def test_alias(token_tracker):
            token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=1_000))

        def test_dated(token_tracker):
            token_tracker.record(
                model="gpt-4o-2024-08-06", provider="openai", usage=Usage(input=2_000, output=10)
            )
        """
    )
    result = plugin_pytester.runpytest("--cost-report=markdown:cost.md")
    result.assert_outcomes(passed=2)
    markdown = (plugin_pytester.path / "cost.md").read_text()
    models = _tables(markdown)[2]
    assert models[0][0] == "model"
    # 3,000 input x $2.50 + 10 output x $10 per MTok = 7,600 micro-USD, in one row
    assert [row[:3] + row[5:6] for row in models[1:]] == [["`gpt-4o`", "2", "3,000", "10"]]
    assert "Model names: `gpt-4o` = `gpt-4o` + `gpt-4o-2024-08-06`" in markdown
