"""End to end through pytester: the fixture, the Token & Cost section, the files written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TOKENCOST = str(Path(sys.executable).with_name("tokencost"))  # the installed console script

SUITE = """
from pytest_tokencost import Usage

def test_summarise(token_tracker):
    with token_tracker.step("summarise"):
        token_tracker.record(model="gpt-4o", provider="openai",
                             usage=Usage(input=12_000, output=3_400, cache_read=2_000))
    token_tracker.record(step="rerank", model="gpt-4o", prompt="rank these", artifact="first")

def test_triage(token_tracker):
    with token_tracker.case("case-7"), token_tracker.step("triage"):
        token_tracker.record(model="claude-sonnet-4", provider="anthropic",
                             usage=Usage(input=20_000, output=1_000))

def test_agent(token_tracker):
    token_tracker.record(step="act", prompt="x" * 4000, artifact="y" * 400)

def test_nothing_recorded():
    assert True
"""


@pytest.fixture
def suite(plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("COLUMNS", "200")  # every column (test_terminal_width.py checks 80)
    plugin_pytester.makepyfile(test_suite=SUITE)
    return plugin_pytester


def _report(pytester: pytest.Pytester) -> dict:  # type: ignore[type-arg]
    return json.loads((pytester.path / ".tokencost" / "token-report.json").read_text())


def test_cost_report_prints_the_token_and_cost_section(suite: pytest.Pytester) -> None:
    # Worked by hand, in micro-USD (USD per MTok x tokens):
    #   gpt-4o summarise: 10,000 x 2.50 + 2,000 cached x 1.25 + 3,400 x 10  = 61,500
    #   gpt-4o rerank:    2 tokens ("rank these") x 2.50 + 1 ("first") x 10 =     15
    #   claude-sonnet-4:  20,000 x 3 + 1,000 x 15                           = 75,000
    #   no model (default rate $3/$15): 4000 B / 4 = 1,000 x 3 + 100 x 15   =  4,500
    #   total 141,015 (input 90,505, output 50,510); 4 steps; 1 case.
    result = suite.runpytest("--cost-report")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*= Token & Cost =*",
            "Total prompts:   33,002 tokens ($0.0905)",
            "Total artifacts:  4,501 tokens ($0.0505)",
            "Total:           37,503 tokens ($0.141)",
            "Per case avg:    21,000 tokens ($0.0750)",
            "Per step avg:     9,376 tokens ($0.0353)",
            "Wall clock:      *s",
            "(Prompts are input tokens, artifacts output tokens.)",
            "Counts: 36,400 reported, 3 counted, 1,100 estimated",
            "Note: totals include estimated tokens*",
            "Default rate: 1 record(s) priced at $3/$15 per MTok (no known model)",
            "Top tests by cost (3 of 3):",
            "test * input * output * total * cost",
            "test_suite.py::test_triage * 20,000 * 1,000 * 21,000 * $0.0750",
            "test_suite.py::test_summarise * 12,002 * 3,401 * 15,403 * $0.0615",
            "test_suite.py::test_agent * 1,000 * 100 * 1,100 * $0.00450",
            "Per step:",
            "step * runs * input * output * total * cost * wall",
            "act * 1 * 1,000 * 100 * 1,100 * $0.00450 *",
            "rerank * 1 * 2 * 1 * 3 * $0.000015 *",
            "summarise * 1 * 12,000 * 3,400 * 15,400 * $0.0615 *",
            "Per model:",
            "(no model) * 1 * 1,000 * - * - * 100 * - * $0.00450 * default-rate",
            "claude-sonnet-4 * 1 * 20,000 * - * - * 1,000 * - * $0.0750 * genai-prices",
            "gpt-4o * 2 * 12,002 * 2,000 * - * 3,401 * - * $0.0615 * genai-prices",
        ]
    )


def test_report_files_are_written_and_git_ignored(suite: pytest.Pytester) -> None:
    suite.runpytest().assert_outcomes(passed=4)
    out = suite.path / ".tokencost"
    assert (out / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (
        (out / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )
    report = _report(suite)
    assert report["schema_version"] == 5
    assert report["summary"]["totals"]["records"] == 4
    assert report["summary"]["totals"]["cost_micro_usd"] == 141_015
    assert report["prices"]["genai_prices_version"]
    assert report["run"]["exit_status"] == 0
    lines = (out / "records.jsonl").read_text().splitlines()
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert first["test_id"] == "test_suite.py::test_summarise"
    assert first["prompt_tokens"] == 12_000 and first["provenance"] == "reported"
    assert first["cost_micro_usd"] == 61_500 and first["priced_as"] == "openai:gpt-4o"
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_no_section_without_the_option_but_ini_can_ask_for_it(suite: pytest.Pytester) -> None:
    result = suite.runpytest()
    assert "Token & Cost" not in result.stdout.str()
    suite.makeini("[pytest]\ntokencost_report = true\n")
    suite.runpytest().stdout.fnmatch_lines(["*= Token & Cost =*"])


def test_json_target_writes_a_copy(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--cost-report=json:out/cost.json", "--cost-report=term")
    result.assert_outcomes(passed=4)
    assert json.loads((suite.path / "out" / "cost.json").read_text()) == _report(suite)
    result.stdout.fnmatch_lines(["*= Token & Cost =*"])


def test_a_json_copy_that_cannot_be_written_names_its_path(suite: pytest.Pytester) -> None:
    """The copy fails (its path is a folder); the run's own report is written, and said so."""
    (suite.path / "adir").mkdir()
    result = suite.runpytest("--cost-report=json:adir")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            f"ERROR: cannot write the token report copy {suite.path / 'adir'} (--cost-report "
            f"json): Is a directory; the run's report is {suite.path / '.tokencost'}*",
        ]
    )
    assert _report(suite)["summary"]["totals"]["records"] > 0


def test_a_suite_that_records_nothing_writes_nothing(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile("def test_a(): pass")
    plugin_pytester.runpytest().assert_outcomes(passed=1)
    assert not (plugin_pytester.path / ".tokencost").exists()
    result = plugin_pytester.runpytest("--cost-report")
    result.stdout.fnmatch_lines(["*= Token & Cost =*", "No tokens recorded."])


def test_cost_dir_and_ini_dir(suite: pytest.Pytester) -> None:
    suite.runpytest("--cost-dir", "build/costs").assert_outcomes(passed=4)
    assert (suite.path / "build" / "costs" / "token-report.json").is_file()
    suite.makeini("[pytest]\ntokencost_dir = var/tc\n")
    suite.runpytest().assert_outcomes(passed=4)
    assert (suite.path / "var" / "tc" / "token-report.json").is_file()


def test_a_bad_record_fails_only_its_test(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile("""
        from pytest_tokencost import Usage

        def test_bad(token_tracker):
            token_tracker.record(usage=Usage(input=5, output=1))
            token_tracker.observe({"object": "chat.completion", "usage": {"prompt_tokens": -3}})

        def test_good(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=10, output=10))
    """)
    result = plugin_pytester.runpytest("--cost-report")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*UnreadablePayloadError*cannot be negative*"])
    # The record made before the failure is kept, not lost with the failing test.
    assert _report(plugin_pytester)["summary"]["totals"]["records"] == 2


def test_unknown_models_are_not_recorded_and_listed(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    plugin_pytester.makepyfile("""
        from pytest_tokencost import Usage

        def test_a(token_tracker):
            token_tracker.record(model="in-house-7b", usage=Usage(input=100, output=10))
            token_tracker.record(model="gpt-4o", usage=Usage(input=1000, output=100))
    """)
    result = plugin_pytester.runpytest("--cost-report")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "Total:           1,210 tokens ($0.00350 + 1 not recorded)",
            "Not recorded: 1 record(s) have no known price, for in-house-7b; add them to a "
            "--cost-prices file",
            "in-house-7b * 1 * 100 * - * - * 10 * - * not recorded * not-recorded",
        ]
    )
    summary = _report(plugin_pytester)["summary"]
    assert summary["unpriced_models"] == ["in-house-7b"]
    assert summary["by_model"]["in-house-7b"]["cost_micro_usd"] is None


def test_cost_strict_fails_the_run_when_something_is_unpriced(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile("""
        from pytest_tokencost import Usage

        def test_a(token_tracker):
            token_tracker.record(model="in-house-7b", usage=Usage(input=100, output=10))
    """)
    result = plugin_pytester.runpytest("--cost-strict")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["ERROR: --cost-strict: no price is known for in-house-7b*"])
    assert _report(plugin_pytester)["run"]["exit_status"] == 1

    prices = plugin_pytester.path / "prices.toml"
    prices.write_text('[models."in-house-7b"]\ninput_mtok = 1\noutput_mtok = 2\n')
    result = plugin_pytester.runpytest("--cost-strict", "--cost-prices", str(prices))
    assert result.ret == pytest.ExitCode.OK
    summary = _report(plugin_pytester)["summary"]
    assert summary["totals"]["cost_micro_usd"] == 120
    assert summary["by_model"]["in-house-7b"]["records_by_price_source"] == {"override": 1}


def test_a_bad_price_file_is_a_usage_error(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile("def test_a(): pass")
    (plugin_pytester.path / "prices.toml").write_text('[models."m"]\ninput_mtok = -1\n')
    plugin_pytester.makeini("[pytest]\ntokencost_prices = prices.toml\n")
    result = plugin_pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: price file *prices.toml does not validate*",
            "*prices.toml:line 2: models.m.input_mtok: Input should be greater than or equal to 0",
        ]
    )


def test_default_rate_option_and_ini(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile("""
        from pytest_tokencost import Usage

        def test_a(token_tracker):
            token_tracker.record(usage=Usage(input=1_000_000, output=1_000_000))
            token_tracker.record(model="in-house-7b", usage=Usage(input=1_000_000))
    """)
    plugin_pytester.runpytest("--cost-default-rate=1,2").assert_outcomes(passed=1)
    assert _report(plugin_pytester)["summary"]["totals"]["cost_micro_usd"] == 3_000_000
    plugin_pytester.makeini(
        "[pytest]\ntokencost_default_rate = 0.5,1\ntokencost_default_rate_unknown_models = true\n"
    )
    plugin_pytester.runpytest().assert_outcomes(passed=1)
    totals = _report(plugin_pytester)["summary"]["totals"]
    assert totals["cost_micro_usd"] == 1_500_000 + 500_000
    assert totals["records_by_price_source"] == {"default-rate": 2}


def test_header_names_price_data_and_output(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--cost-strict", "--cost-default-rate=3,15")
    result.stdout.fnmatch_lines(
        [
            "tokencost: prices genai-prices *, default rate 3,15 USD/MTok",
            "tokencost: output *.tokencost, strict",
        ]
    )


def test_disabling_the_plugin(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:tokencost")
    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines(["*fixture 'token_tracker' not found*"])
    assert "tokencost:" not in result.stdout.str()
    assert not (suite.path / ".tokencost").exists()


def test_cli_reprints_the_section(suite: pytest.Pytester) -> None:
    suite.runpytest().assert_outcomes(passed=4)
    report = suite.path / ".tokencost" / "token-report.json"
    result = suite.run(TOKENCOST, "report", str(report))
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*= Token & Cost =*",
            "Run *",
            "Total:           37,503 tokens ($0.141)",
            "Per model:",
        ]
    )


def test_cli_rejects_a_broken_report(pytester: pytest.Pytester) -> None:
    broken = pytester.path / "token-report.json"
    broken.write_text('{"schema_version": 1, "run": ')
    result = pytester.run(TOKENCOST, "report", str(broken))
    assert result.ret == 2
    result.stderr.fnmatch_lines(["tokencost: error: report *token-report.json is not JSON*"])
    broken.write_text('{"schema_version": 99}')
    result = pytester.run(TOKENCOST, "report", str(broken))
    result.stderr.fnmatch_lines(["*schema_version 99*upgrade*"])


def test_schema_in_the_repo_matches_the_models() -> None:
    from pytest_tokencost.report import report_schema

    committed = Path(__file__).parents[1] / "pytest_tokencost" / "schema"
    assert json.loads((committed / "token-report.schema.json").read_text()) == report_schema(), (
        "regenerate with: tokencost schema > pytest_tokencost/schema/token-report.schema.json"
    )
