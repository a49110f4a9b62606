"""The calibration harness through pytest with the stub adapter: cases as tests, M18, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calibrate.cli import run_scenario

from ..conftest import PTP_MOCK, copy_scenario


def _json(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())


@pytest.fixture
def scenario_pytester(plugin_pytester: pytest.Pytester) -> pytest.Pytester:
    copy_scenario(plugin_pytester.path)
    return plugin_pytester


def test_every_case_is_a_calibration_test(scenario_pytester: pytest.Pytester) -> None:
    result = scenario_pytester.runpytest(
        "-m", "calibration", "--adapter=stub", "--cost-report", "-v"
    )
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(
        [
            "ptp-mock/scenario.toml::case-01 PASSED*",
            "*= Token & Cost =*",
            "Per case avg:*",
            "Counts: * estimated",
            "Per step:",
            "investigate * 12 *",
            "*= Calibration: ptp-mock =*",
            "Scenario ptp-mock via stub (token counts estimated)",
            "Cases passed:    12 of 12 (100%)",
            "M18 total_prompt_tokens: *,* (estimated)",
            "recall * 12 * 0 * 100% *",
            "case-12 * 4 * pass",
        ]
    )
    out = scenario_pytester.path / ".tokencost"
    tokens, calibration = _json(out / "token-report.json"), _json(out / "calibration-report.json")
    assert tokens["run"]["adapter"] == "stub"
    # M18 is the recorded prompt total, not the old steps x 1000, and says it is an estimate.
    assert calibration["metrics"]["m18_source"] == "estimated"
    assert calibration["adapter_provenance"] == "estimated"
    measured = tokens["summary"]["totals"]["usage"]["input"]
    assert calibration["metrics"]["m18_total_prompt_tokens"] == measured != 12 * 4 * 1000
    assert sum(c["prompt_tokens"] for c in calibration["cases"]) == measured
    assert set(tokens["summary"]["by_step"]) == {"recall", "triage", "investigate", "report"}
    assert tokens["summary"]["totals"]["tokens_by_provenance"] == {
        "estimated": tokens["summary"]["totals"]["usage"]["input"]
        + tokens["summary"]["totals"]["usage"]["output"]
    }
    # Records carry sizes and counts, never the prompt or artifact text.
    records = (out / "records.jsonl").read_text()
    assert "failure_log" not in records and "ReadTimeout" not in records


def test_stub_runs_are_deterministic(scenario_pytester: pytest.Pytester) -> None:
    totals = []
    for _ in range(2):
        scenario_pytester.runpytest("-m", "calibration", "--adapter=stub").assert_outcomes(
            passed=12
        )
        report = _json(scenario_pytester.path / ".tokencost" / "token-report.json")
        totals.append(
            (
                report["summary"]["totals"]["usage"],
                report["summary"]["totals"]["cost_micro_usd"],
                {k: v["usage"] for k, v in report["summary"]["by_case"].items()},
            )
        )
    assert totals[0] == totals[1]


def test_without_adapter_scenarios_are_not_collected(scenario_pytester: pytest.Pytester) -> None:
    result = scenario_pytester.runpytest("-m", "calibration")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_unknown_adapter_is_a_usage_error(scenario_pytester: pytest.Pytester) -> None:
    result = scenario_pytester.runpytest("--adapter=telepathy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown adapter 'telepathy'; available: cursor, openai, stub*"])


def test_a_broken_scenario_is_a_collection_error(scenario_pytester: pytest.Pytester) -> None:
    case_file = scenario_pytester.path / "ptp-mock" / "cases" / "case-02.toml"
    case_file.write_text(case_file.read_text().replace('id = "case-02"', 'id = "../../etc"'))
    result = scenario_pytester.runpytest("--adapter=stub")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*case-02.toml: invalid scenario data:*", "*id: *not a safe id*"])


def test_plugins_can_add_adapters(scenario_pytester: pytest.Pytester) -> None:
    scenario_pytester.makeconftest("""
        from calibrate.dispatch import DispatchResult
        from pytest_tokencost.records import Provenance

        class Shouting:
            def dispatch(self, request):
                return DispatchResult(artifact=request.prompt.upper()[:200])

        class ShoutAdapter:
            name = "shout"
            provenance = Provenance.ESTIMATED

            def dispatcher(self, context):
                return Shouting()

        def pytest_tokencost_adapters():
            return {"shout": ShoutAdapter}
    """)
    result = scenario_pytester.runpytest("--adapter=shout", "ptp-mock/cases/../scenario.toml")
    result.assert_outcomes(failed=12)
    result.stdout.fnmatch_lines(["*recall: missing field 'matched_incident', expected 'INC-1184'"])
    report = _json(scenario_pytester.path / ".tokencost" / "calibration-report.json")
    assert report["adapter"] == "shout" and report["metrics"]["pass_rate"] == 0.0


def test_the_api_runs_without_pytest(tmp_path: Path) -> None:
    state, report = run_scenario(PTP_MOCK, adapter="stub", output_dir=tmp_path)
    assert report.metrics.passed == report.metrics.cases == 12
    assert state.report is not None
    assert report.metrics.m18_total_prompt_tokens == state.report.summary.totals.usage.input
    assert (tmp_path / "calibration-report.json").is_file()
    assert (tmp_path / "token-report.json").is_file()


def test_scenario_files_declare_case_and_step_budgets(plugin_pytester: pytest.Pytester) -> None:
    scenario = copy_scenario(plugin_pytester.path, cases=2)
    scenario_file = scenario / "scenario.toml"
    text = scenario_file.read_text()
    scenario_file.write_text(
        text.replace('name = "triage"\n', 'name = "triage"\nbudget = { max_tokens = 200 }\n')
    )
    case_file = scenario / "cases" / "case-02.toml"
    case_file.write_text(
        case_file.read_text().replace("[inputs]", "budget = { max_tokens = 500 }\n\n[inputs]")
    )
    result = plugin_pytester.runpytest("-m", "calibration", "--adapter=stub", "--cost-report")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*case case-01 of scenario ptp-mock:*",
            "*triage: ERROR token budget exceeded: step triage spent * of its 200 tokens budget",
            "*case case-02 of scenario ptp-mock:*",
            "*recall: ERROR token budget exceeded: case case-02 spent * of its 500 tokens budget",
            "Budgets:",
        ]
    )
    budgets = _json(plugin_pytester.path / ".tokencost" / "token-report.json")["budgets"]
    assert {(b["scope"], b["status"]) for b in budgets} >= {
        ("step triage", "exceeded"),
        ("case case-02", "exceeded"),
    }
    case_file.write_text(case_file.read_text().replace("max_tokens = 500", "max_tokns = 500"))
    result = plugin_pytester.runpytest("-m", "calibration", "--adapter=stub")
    result.stdout.fnmatch_lines(
        ["*case-02.toml: case 'case-02': budget: unknown budget 'max_tokns'*"]
    )


def test_every_run_rewrites_its_calibration_reports(scenario_pytester: pytest.Pytester) -> None:
    out = scenario_pytester.path / ".tokencost"
    scenario_pytester.runpytest("-m", "calibration", "--adapter=stub").assert_outcomes(passed=12)
    assert (out / "calibration-report.json").exists()
    (out / "old-scenario.calibration-report.json").write_text("{}")  # an earlier run's
    result = scenario_pytester.runpytest("-m", "calibration", "--adapter=stub", "-k", "no-such")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    # This run calibrated nothing: no earlier run's calibration report is left beside its files.
    assert not list(out.glob("*calibration-report.json"))


@pytest.mark.parametrize("workers", ["0", "2"])
def test_scenarios_that_share_case_ids_keep_their_own_figures(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    """A case is (scenario, case id): two scenarios with case-01..03 each, and a plain test
    that opens case("case-01") too, give three separate sets of figures."""
    for name in ("alpha", "beta"):
        folder = copy_scenario(plugin_pytester.path / name, cases=3)
        text = (folder / "scenario.toml").read_text()
        (folder / "scenario.toml").write_text(text.replace('id = "ptp-mock"', f'id = "{name}"'))
    plugin_pytester.makepyfile(
        test_plain="""
        from pytest_tokencost import Usage
        def test_plain(token_tracker):
            with token_tracker.case("case-01"):
                token_tracker.record(model="gpt-4o", usage=Usage(input=77_777, output=1))
        """
    )
    result = plugin_pytester.runpytest("--adapter=stub", "-n", workers, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7)
    out = plugin_pytester.path / ".tokencost"
    tokens = _json(out / "token-report.json")
    alpha = _json(out / "alpha.calibration-report.json")
    beta = _json(out / "beta.calibration-report.json")
    by_case = tokens["summary"]["by_case"]
    for report, name in ((alpha, "alpha"), (beta, "beta")):
        m18 = report["metrics"]["m18_total_prompt_tokens"]
        # Each scenario's M18 is its own three cases' prompts: the same bundled prompts, so
        # equal, and never the other scenario's or the plain test's tokens added in.
        assert m18 == sum(c["prompt_tokens"] for c in report["cases"])
        assert m18 == sum(by_case[f"{name}::case-0{n}"]["usage"]["input"] for n in (1, 2, 3))
        assert report["tokens"]["totals"]["usage"]["input"] == m18
    assert alpha["metrics"]["m18_total_prompt_tokens"] == beta["metrics"]["m18_total_prompt_tokens"]
    assert by_case["case-01"]["usage"]["input"] == 77_777  # the plain test's case, apart


def test_the_tracking_dispatcher_records_each_dispatch_and_passes_its_errors_on() -> None:
    from calibrate import DispatchError, DispatchRequest, DispatchResult, TokenTrackingDispatcher
    from pytest_tokencost import InMemoryTokenTracker, Usage

    class Endpoint:
        """Stands in for an HTTP model endpoint: reports usage, fails on demand."""

        def dispatch(self, request: DispatchRequest) -> DispatchResult:
            if request.step == "broken":
                raise DispatchError("503 from the endpoint")
            return DispatchResult("category: x", "gpt-4o", "openai", Usage(input=120, output=9))

    tracker = InMemoryTokenTracker(test_id="t")
    tracking = TokenTrackingDispatcher(Endpoint(), tracker)
    request = DispatchRequest("s", "case-01", "triage", "prompt text")
    assert tracking.dispatch(request).artifact == "category: x"
    with pytest.raises(DispatchError, match="503"):
        tracking.dispatch(DispatchRequest("s", "case-01", "broken", "prompt text"))
    (record,) = tracker.records()  # an endpoint that failed billed nothing
    assert (record.usage.input, record.provenance, record.model) == (120, "reported", "gpt-4o")
