"""Issue 12's CI outputs together with the run history, cost gates (issue 10) and HTML page
(issue 11): the Markdown holds the comparison and the gates' verdicts, failed gates are
annotations, a combined run goes into the history, and `--no-cost` writes none of it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from pytest_tokencost.history import read_runs
from pytest_tokencost.money import format_usd

TOKENCOST = str(Path(sys.executable).with_name("tokencost"))

SUITE = """
import pytest
from pytest_tokencost import Usage

def test_gpt(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai",
                         usage=Usage(input={gpt_input}, output=3_400, cache_read=2_000))

@pytest.mark.token_budget(max_tokens=1_000)
def test_claude(token_tracker):
    token_tracker.record(model="claude-sonnet-4", provider="anthropic",
                         usage=Usage(input=850, output=50))

def test_unknown(token_tracker):
    token_tracker.record(model="in-house-7b", usage=Usage(input=100, output=10))
"""
# By hand (USD per MTok x tokens), first run: test_gpt 12,000 in (2,000 of them cache reads)
# + 3,400 out = 15,400 tokens, 10,000 x 2.50 + 2,000 x 1.25 + 3,400 x 10 = 61,500 micro-USD;
# test_claude 900 tokens, 850 x 3 + 50 x 15 = 3,300; test_unknown 110 tokens, not recorded.
# Run total 16,410 tokens. Second run: test_gpt 13,000 in: 16,400 tokens, 64,000 micro-USD;
# run total 17,410 tokens (+1,000, +6.1%).


@pytest.fixture
def suite(plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    plugin_pytester.makepyfile(test_ci=SUITE.format(gpt_input="12_000"))
    return plugin_pytester


def _section(markdown: str, title: str) -> list[str]:
    """The lines of one `### title` section."""
    lines = markdown.splitlines()
    start = lines.index(f"### {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("### ")), len(lines))
    return lines[start:end]


def _rows(lines: list[str]) -> list[list[str]]:
    """A section's Markdown table rows as cells (header first, the alignment row dropped)."""
    rows = []
    for line in lines:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= set("-:") for c in cells):
                rows.append(cells)
    return rows


def _tables_are_blocks(lines: list[str]) -> None:
    """GitHub renders a table only when it starts its own block (a blank line before it)."""
    for index, line in enumerate(lines):
        if line.startswith("|") and index and not lines[index - 1].startswith("|"):
            assert lines[index - 1] == "", lines[index - 1 : index + 1]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_markdown_and_step_summary_hold_comparison_and_gate_verdicts(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: str
) -> None:
    suite.runpytest("-n", workers).assert_outcomes(passed=3)
    suite.makepyfile(test_ci=SUITE.format(gpt_input="13_000"))
    step_summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = suite.runpytest(
        "-n",
        workers,
        "--cost-report=markdown:cost.md",
        "--cost-compare",
        "--cost-compare-fail=tokens:5%",
        "--cost-compare-fail=usd:10%",
        "--cost-fail-over=usd:1",
    )
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the tokens gate failed the run
    markdown = (suite.path / "cost.md").read_text()
    assert step_summary.read_text().rstrip("\n") == markdown.rstrip("\n")
    lines = markdown.splitlines()
    _tables_are_blocks(lines)
    base_id = read_runs(suite.path / ".tokencost")[1].run_id
    gates = _section(markdown, "Cost gates")
    assert gates[1] == f"Baseline: run `{base_id}` (" + gates[1].split("(", 1)[1]
    assert gates[1].endswith("from history).")
    assert _rows(gates) == [
        ["gate", "verdict", "detail"],
        [
            "`--cost-compare-fail=tokens:5%`",
            "**FAIL**",
            f"tokens grew past the limit of 5%: 16,410 tokens (base {base_id}) -> 17,410 "
            "tokens (+6.1%)",
        ],
        [
            "`--cost-compare-fail=usd:10%`",
            "WARN",
            f"not checked: the cost is not recorded (base {base_id}: not recorded, this run: "
            "not recorded); some records have no price",
        ],
        [
            "`--cost-fail-over=usd:1`",
            "WARN",  # 64,000 + 3,300 priced is within $1: the unpriced record could decide
            "not checked: 1 record(s) have no price (the priced ones cost $0.0673)",
        ],
    ]
    comparison = _section(markdown, "Compared with the previous run")
    assert any(
        re.fullmatch(r"- Tokens: +16,410 -> +17,410 \(\+1,000, \+6\.1%\)", line)
        for line in comparison
    )
    assert comparison[comparison.index("- Cost:    not recorded -> not recorded") + 2] == ""
    tests = _rows(comparison)
    assert tests[0][:2] == ["test", "input"]
    assert tests[1][:2] == ["test_ci.py::test_gpt", "+1,000"]
    # The run's error once, at the top; not again under Warnings.
    assert markdown.count("cost gate failed: --cost-compare-fail=tokens:5%") == 1
    result.stdout.fnmatch_lines(
        [
            "::warning title=cost gate::--cost-compare-fail=usd:10%25 not checked: *",
            "::warning title=cost gate::--cost-fail-over=usd:1 not checked: *",
            "::error title=cost gate::cost gate failed: --cost-compare-fail=tokens:5%25: tokens "
            "grew past the limit of 5%25: 16,410 tokens *",
            "ERROR: cost gate failed: --cost-compare-fail=tokens:5%: *",
        ]
    )


def test_a_fail_over_gate_over_the_priced_part_says_so(suite: pytest.Pytester) -> None:
    # 61,500 + 3,300 = 64,800 micro-USD priced, one record unpriced: over $0.05 already.
    result = suite.runpytest("--cost-fail-over=usd:0.05")
    result.stdout.fnmatch_lines(
        [
            "ERROR: cost gate failed: --cost-fail-over=usd:0.05: the run's cost is at least "
            "$0.0648 (1 record(s) have no price), over the limit of $0.05"
        ]
    )


def test_no_baseline_is_said_in_the_markdown(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--cost-report=markdown:cost.md", "--cost-compare")
    result.assert_outcomes(passed=3)
    markdown = (suite.path / "cost.md").read_text()
    comparison = _section(markdown, "Compared with the previous run")
    assert comparison[1].startswith("No baseline: no earlier run in the history of ")
    assert _section(markdown, "Cost gates")[1].startswith("Baseline: none (no earlier run")


@pytest.mark.parametrize("workers", ["0", "2"])
def test_no_cost_with_every_output_writes_nothing(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: str
) -> None:
    step_summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = suite.runpytest(
        "-n",
        workers,
        "-v",
        "--no-cost",
        "--cost-report=html",
        "--cost-report=markdown:cost.md",
        "--cost-compare",
        "--cost-compare-fail=tokens:1%",
        "--cost-fail-over=tokens:1",
        "--junitxml=junit.xml",
    )
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.OK
    assert not (suite.path / ".tokencost").exists()  # no report, page, ledger or history
    assert not (suite.path / "cost.md").exists()
    assert not step_summary.exists()
    assert "tokencost" not in (suite.path / "junit.xml").read_text()
    out = result.stdout.str()
    assert "::error" not in out and "::warning" not in out and "Token & Cost" not in out
    assert re.search(r"test_gpt PASSED|PASSED test_ci.py::test_gpt", out)  # serial | xdist
    assert "tokens," not in out  # no tokens on the -v result lines


@pytest.mark.parametrize("workers", ["0", "2"])
def test_v_lines_junit_and_html_alongside_the_gates(suite: pytest.Pytester, workers: str) -> None:
    suite.runpytest("-n", workers).assert_outcomes(passed=3)
    result = suite.runpytest(
        "-n",
        workers,
        "-v",
        "--cost-report=html",
        "--cost-compare",
        "--cost-compare-fail=tokens:1%",
        "--junitxml=junit.xml",
    )
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.OK  # same tokens: the gate passes
    line = "PASSED (15,400 tokens, $0.0615)"
    out = result.stdout.str()
    assert f"test_gpt {line}" in out or f"{line} test_ci.py::test_gpt" in out  # serial | xdist
    result.stdout.fnmatch_lines(["*Token & Cost: compared with the previous run*"])
    junit = (suite.path / "junit.xml").read_text()
    assert '<property name="tokencost_cost_usd" value="0.061500"' in junit
    page = (suite.path / ".tokencost" / "token-report.html").read_text()
    report = json.loads((suite.path / ".tokencost" / "token-report.json").read_text())
    assert [g["status"] for g in report["gates"]] == ["pass"]
    # The page and the terminal show money by the one rule (money.format_usd).
    assert format_usd(61_500) == "$0.0615" and ">$0.0615<" in page
    assert format_usd(3_300) == "$0.00330" and ">$0.00330<" in page
    assert re.search(r">\$0\.06[0-9]{3,}<", page) is None  # never more digits than the rule


def test_combined_run_goes_into_the_history_and_the_step_summary(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    suite.runpytest("--cost-dir=shard1", "-k", "gpt").assert_outcomes(passed=1)
    suite.runpytest("--cost-dir=shard2", "-n", "2", "-k", "not gpt").assert_outcomes(passed=2)
    step_summary = tmp_path / "summary.md"
    step_summary.write_text("# shard jobs\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    result = suite.run(TOKENCOST, "combine", "shard1", "shard2", "--out", "all", "--markdown")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(
        [
            f"tokencost: Markdown summary written to {Path('all') / 'token-report.md'}",
            f"tokencost: GitHub step summary written to {step_summary}",
        ]
    )
    report = json.loads((suite.path / "all" / "token-report.json").read_text())
    (row,) = read_runs(suite.path / "all")
    assert row.run_id == report["run"]["run_id"]
    assert row.totals.total == 16_410 and row.totals.records == 3
    assert row.totals.cost_micro_usd is None and row.totals.priced_micro_usd == 64_800
    markdown = (suite.path / "all" / "token-report.md").read_text()
    assert f"Run `{row.run_id}`" in markdown and "**16,410**" in markdown
    assert step_summary.read_text() == "# shard jobs\n" + markdown.rstrip("\n") + "\n\n"
    # --cost-compare in the combined folder finds the combined run as its baseline.
    again = suite.runpytest("--cost-dir=all", "--cost-compare=-1", "--cost-report=term")
    again.stdout.fnmatch_lines(["Tokens:*16,410 ->*16,410 (+0, +0.0%)"])
    # --no-history leaves the history alone; nothing is appended without $GITHUB_STEP_SUMMARY.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    before = step_summary.read_text()
    quiet = suite.run(TOKENCOST, "combine", "shard1", "shard2", "--out", "all2", "--no-history")
    assert quiet.ret == 0, quiet.stderr.str()
    assert not (suite.path / "all2" / "history.sqlite").exists()
    assert step_summary.read_text() == before


LONG = """
import pytest
from pytest_tokencost import Usage

@pytest.mark.parametrize("question", ["how-do-i-reset-my-password-when-the-email-link-has-expired"])
def test_support_answer_quality_for_a_very_long_parametrized_customer_question(
    token_tracker, question
):
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input={n}, output=100))
"""


def test_comparison_and_history_fit_80_columns(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    plugin_pytester.makepyfile(test_long=LONG.format(n=1_000))
    plugin_pytester.runpytest().assert_outcomes(passed=1)
    plugin_pytester.makepyfile(test_long=LONG.format(n=2_000))
    result = plugin_pytester.runpytest("--cost-compare")
    result.assert_outcomes(passed=1)
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "compared with the previous run" in line)
    section = lines[start:]
    assert all(len(line) <= 80 for line in section), [s for s in section if len(s) > 80]
    # the changed test's row: name shortened in its middle, head tokens, change, cost change
    # (gpt-4o: 2,000 x 2.50 + 100 x 10 = 6,000 micro-USD against 3,500: +$0.00250)
    row = next(line for line in section if line.startswith("test_long.py::"))
    assert "..." in row and row.split()[-3:] == ["2,100", "+90.9%", "+$0.00250"]
    history = plugin_pytester.run(TOKENCOST, "history")
    assert all(len(line) <= 80 for line in history.stdout.lines)
    header = history.stdout.lines[0].split()
    assert header[0] == "run" and {"tokens", "cost", "change", "status"} <= set(header)
    assert "branch" not in header  # "-" in every row outside a git work tree
    monkeypatch.setenv("COLUMNS", "200")
    wide = plugin_pytester.run(TOKENCOST, "history")
    assert wide.stdout.lines[0].split()[:4] == ["run", "when", "(UTC)", "commit"]
    compared = plugin_pytester.run(TOKENCOST, "compare", "--format", "markdown")
    markdown = compared.stdout.lines
    _tables_are_blocks(markdown)
    bullets = [i for i, line in enumerate(markdown) if line.startswith("- ")]
    assert markdown[bullets[-1] + 1] == ""  # the list ends before the tables
    assert any(line.startswith("| test_long.py::test_support_answer_quality") for line in markdown)
