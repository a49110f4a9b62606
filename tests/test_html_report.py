"""The HTML cost page: what it holds, read back from the HTML, against token-report.json."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_tokencost.cli import main as tokencost
from pytest_tokencost.html import (
    Comparison,
    ComparisonRow,
    GateVerdict,
    PageInput,
    PastRun,
    render_page,
)
from pytest_tokencost.html.load import page_from_folder
from pytest_tokencost.render import format_usd
from pytest_tokencost.settings import parse_report_target

from .htmlpage import EVIL, SUITE, Page, SuiteRun, check_page_rows, sort_value, suite_run

__all__ = ["suite_run"]  # a fixture, imported for its tests


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_suite=SUITE)
    if "-n" in args:  # pytest-xdist's workers are processes anyway
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def _report(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "token-report.json").read_text())
    return data


def test_the_page_holds_the_reports_numbers(suite_run: SuiteRun) -> None:
    folder = suite_run.folder
    page_path = folder / "token-report.html"
    assert f"tokencost: HTML report {page_path.as_uri()}" in suite_run.stdout
    report = _report(folder)
    page = Page(page_path.read_text(encoding="utf-8"))
    check_page_rows(page, report)
    totals = report["summary"]["totals"]
    # hand-computed: 4 x (12,000..12,003 + 800 + 3,000 + 400) + 800 + 2,000
    assert totals["usage"]["input"] + totals["usage"]["output"] == 4 * 16_200 + 6 + 800 + 2_000
    assert f"{totals['usage']['input'] + totals['usage']['output']:,} tokens" in page.text
    # the unpriced model is "not recorded", never $0.00, and listed
    assert report["summary"]["unpriced_models"] == [EVIL]
    assert page.rows("t-models")[EVIL][page.column("t-models", "cost")][0] == "not recorded"
    cells = [cell[0] for table in page.tables.values() for row in table for cell in row]
    assert not [cell for cell in cells if re.fullmatch(r"\$0\.0*", cell)]
    assert f"No price is known for: {EVIL}" in page.text
    # provenance badges and the 1-hour part of cache writes
    assert "reported" in page.rows("t-tests")["test_suite.py::test_no_model"][-1][0]
    assert "1h 2,000" in page.rows("t-models")["claude-sonnet-4-20250514"][3][0]
    # cache effectiveness: hit rate of the Anthropic model, 36,000 reads of 48,006 input
    cache = page.rows("t-cache-models")["claude-sonnet-4-20250514"]
    assert cache[3][0] == "75%"
    assert int(sort_value(cache[4])) > 0  # reads at a tenth of the input price save money
    assert "no history yet" in page.text.lower()


def test_markup_in_ids_and_model_names_stays_text(suite_run: SuiteRun) -> None:
    text = (suite_run.folder / "token-report.html").read_text()
    page = Page(text)
    assert [tag for tag, _ in page.tags if tag == "img"] == []
    assert len(re.findall(r"</script", text, re.IGNORECASE)) == 1  # only the page's own
    assert [tag for tag, _ in page.tags].count("script") == 1
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;" in text
    assert f"test_suite.py::test_markup[{EVIL}]" in page.rows("t-tests")
    assert EVIL in page.rows("t-models") and EVIL in page.rows("t-steps")
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)


def test_the_page_makes_no_request(suite_run: SuiteRun) -> None:
    text = (suite_run.folder / "token-report.html").read_text()
    page = Page(text)
    assert not re.search(r"https?:|//[a-z]|url\(|@import", text, re.IGNORECASE)
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
        if "href" in attrs:
            assert (attrs["href"] or "").startswith("#"), attrs
    # a Content-Security-Policy that blocks anything not inline, should a string ever slip
    csp = [a for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")


def test_xdist_gives_the_same_page_figures(plugin_pytester: pytest.Pytester) -> None:
    _run(plugin_pytester, "-n", "2", "--cost-report=html").assert_outcomes(passed=6)
    folder = plugin_pytester.path / ".tokencost"
    check_page_rows(Page((folder / "token-report.html").read_text()), _report(folder))


def test_html_path_json_path_and_term_together(plugin_pytester: pytest.Pytester) -> None:
    result = _run(
        plugin_pytester,
        "--cost-report=html:pages/run.html",
        "--cost-report=json:copy.json",
        "--cost-report=term",
    )
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        ["*= Token & Cost =*", "tokencost: HTML report file://*/pages/run.html"]
    )
    assert (plugin_pytester.path / "copy.json").is_file()
    assert not (plugin_pytester.path / ".tokencost" / "token-report.html").exists()
    page = Page((plugin_pytester.path / "pages" / "run.html").read_text())
    check_page_rows(page, _report(plugin_pytester.path / ".tokencost"))


def test_budget_gauges_say_the_warn_line_of_the_run(plugin_pytester: pytest.Pytester) -> None:
    result = _run(
        plugin_pytester,
        "--cost-report=html",
        "--cost-budget-usd=10",
        "--cost-warn-at=0.5",
        "--cost-default-rate-unknown",
    )
    result.assert_outcomes(passed=6)
    text = (plugin_pytester.path / ".tokencost" / "token-report.html").read_text()
    page = Page(text)
    assert "Every budget warns at 50%, hard-stops at 100%." in page.text
    assert "warns at 50%, hard-stops at 100%" in page.text  # the budget card too
    assert 'class="warnline" style="left:50.0%"' in text
    assert re.search(r"USD: used \$0\.\d+ of \$10\.00 \([\d.]+%\) · remaining \$9\.\d+", page.text)
    # the session's USD warn line is drawn on the cumulative chart
    assert "warn line $5.00" in page.text


def test_a_crossed_warn_line_is_marked_on_the_cumulative_line(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(
        test_loop="""
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.token_budget(max_tokens=1_000)
        def test_loop(token_tracker):
            for _ in range(9):
                token_tracker.record(usage=Usage(input=80, output=20), model="gpt-4o")
        """
    )
    plugin_pytester.runpytest("--cost-report=html").assert_outcomes(passed=1)
    page = Page((plugin_pytester.path / ".tokencost" / "token-report.html").read_text())
    assert "warn line crossed (test test_loop.py::test_loop: 80% of 1,000 tokens)" in page.text
    assert "test test_loop.py::test_loop · warn" in page.text


def test_tokencost_html_writes_the_page_of_a_saved_run(
    suite_run: SuiteRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = suite_run.folder
    out = tmp_path / "again.html"
    assert tokencost(["html", str(folder), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    again, first = Page(out.read_text()), Page((folder / "token-report.html").read_text())
    check_page_rows(again, _report(folder))
    for table in ("t-tests", "t-steps", "t-models", "t-cache-models", "t-cache-tests"):
        assert again.tables[table] == first.tables[table]
    assert tokencost(["html", str(tmp_path / "nowhere")]) == 2
    assert "no such output folder" in capsys.readouterr().err


def test_tokencost_html_names_a_torn_records_file(suite_run: SuiteRun, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(suite_run.folder, folder)
    with (folder / "records.jsonl").open("a") as handle:
        handle.write('{"seq": 0, "usage": {"inp')  # a torn last line
    assert tokencost(["html", str(folder)]) == 0
    page = Page((folder / "token-report.html").read_text())
    assert "1 unreadable line(s)" in page.text
    check_page_rows(page, _report(folder))  # the totals come from the report


def test_an_unwritable_page_is_an_error_line_not_a_crash(plugin_pytester: pytest.Pytester) -> None:
    (plugin_pytester.path / "blocker").write_text("a file, not a folder")
    result = _run(plugin_pytester, "--cost-report=html:blocker/page.html")
    result.assert_outcomes(passed=6)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["ERROR: cannot write the HTML report *blocker/page.html*"])
    assert (plugin_pytester.path / ".tokencost" / "token-report.json").is_file()


@pytest.mark.harness
def test_a_calibration_run_has_its_section(plugin_pytester: pytest.Pytester) -> None:
    from .conftest import copy_scenario

    copy_scenario(plugin_pytester.path, cases=3)
    result = plugin_pytester.runpytest("--adapter=stub", "--cost-report=html")
    result.assert_outcomes(passed=3)
    folder = plugin_pytester.path / ".tokencost"
    calibration = json.loads((folder / "calibration-report.json").read_text())
    page = Page((folder / "token-report.html").read_text())
    m18 = calibration["metrics"]["m18_total_prompt_tokens"]
    assert f"M18 total_prompt_tokens: {m18:,} (estimated)" in page.text
    assert "Cases passed: 3 of 3 (100%)" in page.text
    assert set(page.rows("t-cal-cases-1")) == {"case-01", "case-02", "case-03"}
    assert set(page.rows("t-cal-steps-1")) == {"recall", "triage", "investigate", "report"}


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist"])
def test_pytest_html_gets_tokens_and_cost_columns(
    plugin_pytester: pytest.Pytester, workers: str | None
) -> None:
    import html

    pytest.importorskip("pytest_html", reason="pytest-html is not installed")
    xdist = ("-n", workers) if workers else ()
    result = _run(plugin_pytester, "--html=results.html", "--self-contained-html", *xdist)
    result.assert_outcomes(passed=6)
    text = (plugin_pytester.path / "results.html").read_text()
    blob = re.search(r'data-jsonblob="([^"]*)"', text)
    assert blob is not None, "pytest-html's report layout changed"
    tests = json.loads(html.unescape(blob[1]))["tests"]
    by_test = _report(plugin_pytester.path / ".tokencost")["summary"]["by_test"]

    def cells(test_id: str) -> list[str]:
        row = tests[test_id][0]["resultsTableRow"]
        return [re.sub(r"<[^>]+>", "", cell) for cell in row[2:4]]

    # $3/$15 per MTok: 1,000 input + 1,000 output = $0.018
    assert by_test["test_suite.py::test_no_model"]["cost_micro_usd"] == 18_000
    assert cells("test_suite.py::test_no_model") == ["2,000", "$0.0180"]
    agent = by_test["test_suite.py::test_agent[0]"]
    assert cells("test_suite.py::test_agent[0]") == [
        f"{agent['usage']['input'] + agent['usage']['output']:,}",
        format_usd(agent["cost_micro_usd"]),
    ]
    assert cells(f"test_suite.py::test_markup[{EVIL}]") == ["800", "not recorded"]
    assert 'data-column-type="tokencostTokens"' in html.unescape(text)


def _report_model(tests: int, per_test: int) -> tuple[Any, list[Any]]:
    """A report and its records: `tests` tests of `per_test` records, realistic ids."""
    from pytest_tokencost.pricing import Pricer
    from pytest_tokencost.records import Provenance, TokenRecord, Usage
    from pytest_tokencost.report import PriceInfo, RunInfo, TokenReport
    from pytest_tokencost.summary import TokenSummary

    pricer = Pricer()
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    records = []
    models = [
        ("gpt-4o", "openai"),
        ("claude-sonnet-4-20250514", "anthropic"),
        ("gpt-4o-mini", "openai"),
    ]
    for t in range(tests):
        for s in range(per_test):
            model, provider = models[(t + s) % 3]
            usage = Usage(input=2_000 + t, output=300 + s, cache_read=512 if s % 2 else 0)
            when = start + timedelta(milliseconds=150 * (t * per_test + s))
            records.append(
                TokenRecord(
                    seq=s,
                    run_id="r1",
                    test_id=f"tests/test_mod_{t // 50:03d}.py::test_case_{t:05d}[param-{t % 7}]",
                    step=f"step-{s}",
                    provider=provider,
                    model=model,
                    usage=usage,
                    provenance=Provenance.REPORTED,
                    timestamp=when,
                    **pricer.price(model, provider, usage, when).record_fields(),
                )
            )
    report = TokenReport(
        run=RunInfo(
            run_id="r1",
            started=start,
            finished=start + timedelta(minutes=5),
            wall_s=300.0,
            pytest_version="9",
            plugin_version="0.1.0",
            argv=["--cost-report=html"],
        ),
        prices=PriceInfo(genai_prices_version="0.2.3", default_rate="$3/$15 per MTok"),
        summary=TokenSummary.from_records(records),
    )
    return report, records


def test_a_2000_test_run_makes_a_page_under_1_mb() -> None:
    report, records = _report_model(2_000, 5)
    text = render_page(PageInput(report=report, records=records))
    size = len(text.encode("utf-8"))
    assert size < 1_000_000, f"{size:,} bytes"
    assert len(Page(text).rows("t-tests")) == 2_000  # every test, none dropped


def test_history_and_comparison_when_given() -> None:
    report, records = _report_model(3, 2)
    test = next(iter(report.summary.by_test))
    history = [
        PastRun(
            run_id=f"old{i}",
            started=datetime(2026, 4, 20 + i, tzinfo=UTC),
            tests=3,
            tokens=10_000 + i,
            cost_micro_usd=None if i == 1 else 40_000 + 1_000 * i,
            commit="0123456789abcdef",
            branch="main",
            test_costs={test: 5_000 + i},
        )
        for i in range(3)
    ]
    comparison = Comparison(
        baseline=f"main at 0123456 ({EVIL})",
        rows=[ComparisonRow("total", "run", 10_000, 12_000, 50_000, 60_000)],
        gates=[GateVerdict("total cost at most +10%", False, "+20% ($0.050 -> $0.060)")],
    )
    text = render_page(
        PageInput(report=report, records=records, history=history, comparison=comparison)
    )
    page = Page(text)
    rows = page.tables["t-history"][1:]
    assert len(rows) == 4 and "(this run)" in rows[0][0][0]
    assert [row[5][0] for row in rows[1:]] == ["$0.0420", "not recorded", "$0.0400"]
    assert "4 runs" in page.text  # the project card counts this run
    assert "No cap set" in page.text
    assert "1 run(s) with cost not recorded are not in the sum" in page.text
    assert f"Comparison with main at 0123456 ({EVIL})" in page.text
    assert "FAIL: total cost at most +10%" in page.text
    assert page.rows("t-compare")["run"][3][0] == "+$0.0100 (+20%)"
    assert test in page.text and "One test's trend" in page.text
    assert "no history yet" not in page.text.lower()


def test_report_targets() -> None:
    assert parse_report_target("html").kind == "html"
    assert parse_report_target("html:out/page.html").path == Path("out/page.html")
    with pytest.raises(Exception, match="term takes no path"):
        parse_report_target("term:x")
    with pytest.raises(
        Exception,
        match=r"use term, term:brief, json:PATH, markdown, markdown:PATH, html, html:PATH",
    ):
        parse_report_target("pdf")


def test_folder_page_without_records_file_says_so(tmp_path: Path) -> None:
    report, _ = _report_model(2, 1)
    report.write(tmp_path / "token-report.json")
    page = page_from_folder(tmp_path)
    assert page.records == [] and "records.jsonl is missing" in page.notes[0]
    assert "records.jsonl is missing" in Page(render_page(page)).text


def test_reruns_count_every_attempt_on_the_page(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        test_flaky="""
        from pathlib import Path
        from pytest_tokencost import Usage

        def test_flaky(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=1_000, output=100))
            marker = Path("failed-once")
            if not marker.exists():
                marker.write_text("")
                raise AssertionError("first attempt fails")
        """
    )
    result = plugin_pytester.runpytest("--reruns=1", "--cost-report=html")
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1}
    folder = plugin_pytester.path / ".tokencost"
    report = _report(folder)
    assert report["summary"]["by_test"]["test_flaky.py::test_flaky"]["records"] == 2
    page = Page((folder / "token-report.html").read_text())
    check_page_rows(page, report)
    assert page.rows("t-tests")["test_flaky.py::test_flaky"][0][0] == "2"


def test_an_interrupted_run_writes_its_page(plugin_pytester: pytest.Pytester) -> None:
    import signal

    from .test_interrupts import SUITE as INTERRUPTED_SUITE
    from .test_interrupts import _interrupt

    plugin_pytester.makepyfile(test_suite=INTERRUPTED_SUITE)
    run = _interrupt(plugin_pytester.path, signal.SIGINT, "--cost-report=html")
    assert run.returncode == pytest.ExitCode.INTERRUPTED, run.stdout
    folder = plugin_pytester.path / ".tokencost"
    report = _report(folder)
    page = Page((folder / "token-report.html").read_text())
    check_page_rows(page, report)
    assert "· interrupted ·" in page.text
    assert "test_suite.py::test_running" in page.rows("t-tests")


def test_a_page_never_pairs_with_another_runs_report(tmp_path: Path) -> None:
    """Two runs share a folder: the one that publishes its report last owns the top-level
    page; a run whose report was published over keeps its page in its own run folder."""
    from pytest_tokencost.html.write import write_run_pages
    from pytest_tokencost.records import Usage
    from pytest_tokencost.session import RunState
    from pytest_tokencost.settings import ReportTarget, Settings

    def finished_run() -> RunState:
        settings = Settings(output_dir=tmp_path / "out", reports=(ReportTarget("html"),))
        state = RunState(settings, argv=[], pytest_version="9")
        tracker = state.new_tracker("test_a.py::test_a")
        tracker.record(model="gpt-4o", usage=Usage(input=100, output=10))
        state.add(state.export_data(tracker))
        state.finish(0)
        return state

    first, second = finished_run(), finished_run()  # the second publishes last
    top = tmp_path / "out" / "token-report.html"
    written, problems = write_run_pages(second, second.settings.html_paths)
    assert (written, problems) == ([top], [])
    written, problems = write_run_pages(first, first.settings.html_paths)
    assert problems == [] and written == [first.files.run_dir / "token-report.html"]  # type: ignore[union-attr]
    assert second.run_id in top.read_text() and first.run_id not in top.read_text()
    assert first.run_id in written[0].read_text()


def test_a_run_that_recorded_nothing_says_so(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    plugin_pytester.runpytest("--cost-report=html").assert_outcomes(passed=1)
    page = Page((plugin_pytester.path / ".tokencost" / "token-report.html").read_text())
    for said in ("no tokens recorded", "No records: nothing to draw.", "No model was called."):
        assert said in page.text
    assert page.rows("t-tests") == {}


def test_the_page_shows_the_runs_kept_in_the_history(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        test_growing="""
        from pathlib import Path
        from pytest_tokencost import Usage

        def test_spend(token_tracker):
            runs = Path("runs.txt")
            n = int(runs.read_text()) + 1 if runs.exists() else 1
            runs.write_text(str(n))
            token_tracker.record(model="gpt-4o", usage=Usage(input=1_000 * n, output=10))
        """
    )
    for _ in range(3):
        plugin_pytester.runpytest("-p", "no:cacheprovider", "--cost-report=html").assert_outcomes(
            passed=1
        )
    out = plugin_pytester.path / ".tokencost"
    page = Page((out / "token-report.html").read_text())
    assert "no history yet" not in page.text.lower()
    history = page.tables["t-history"][1:]
    assert len(history) >= 2  # the two earlier runs (the page may list this one too)
    assert "1,010" in page.text and "2,010" in page.text  # their tokens


def test_the_page_compares_with_the_baseline_and_shows_the_gates(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(
        test_growing="""
        from pathlib import Path
        from pytest_tokencost import Usage

        def test_spend(token_tracker):
            runs = Path("runs.txt")
            n = int(runs.read_text()) + 1 if runs.exists() else 1
            runs.write_text(str(n))
            token_tracker.record(model="gpt-4o", usage=Usage(input=1_000 * n, output=0))
        """
    )
    plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    result = plugin_pytester.runpytest(
        "-p", "no:cacheprovider", "--cost-report=html", "--cost-compare-fail=tokens:10%"
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # 2,000 tokens against 1,000: +100%
    page = Page((plugin_pytester.path / ".tokencost" / "token-report.html").read_text())
    assert "Comparison with" in page.text and "FAIL: --cost-compare-fail=tokens:10%" in page.text
    assert "test_growing.py::test_spend" in page.rows("t-compare")


def test_this_runs_history_row_names_its_commit_and_branch(
    plugin_pytester: pytest.Pytester, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history table's "(this run)" row shows the commit and branch the history store
    keeps for the run (the report has no git fields), in the page pytest writes and in the
    one `tokencost html` writes again."""
    import subprocess

    import yaml

    recorded = yaml.safe_load(
        (corpus / "anthropic" / "pydantic-ai__messages_cache_read_and_write.yaml").read_text()
    )
    message = recorded["interactions"][1]["response"]["parsed_body"]
    plugin_pytester.makepyfile(
        test_call=f"""
        import json

        MESSAGE = json.loads({json.dumps(json.dumps(message))})

        def test_call(token_tracker):
            token_tracker.observe(MESSAGE)
        """
    )

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=plugin_pytester.path, check=True, capture_output=True, text=True
        ).stdout.strip()

    try:
        git("init", "-q", "-b", "trial-branch")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    for name in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BRANCH_NAME"):
        monkeypatch.delenv(name, raising=False)
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    commit = git("rev-parse", "HEAD")
    for _ in range(2):
        result = plugin_pytester.runpytest("-p", "no:cacheprovider", "--cost-report=html")
        result.assert_outcomes(passed=1)
    out = plugin_pytester.path / ".tokencost"
    pages = [(out / "token-report.html").read_text()]
    assert tokencost(["html", str(out), "--out", str(out / "again.html")]) == 0
    pages.append((out / "again.html").read_text())
    for text in pages:
        assert "1 call · 1,565 tokens" in Page(text).text  # model routing: one call
        header, this_run, earlier = Page(text).tables["t-history"][:3]
        assert [cell[0] for cell in header[:3]] == ["when (UTC)", "commit", "branch"]
        assert this_run[0][0].endswith("(this run)")
        # input 3 + 1,111 cache read + 418 cache write, output 33 (SOURCES.md)
        assert [cell[0] for cell in this_run[1:5]] == [commit[:12], "trial-branch", "1", "1,565"]
        assert [cell[0] for cell in earlier[1:3]] == [commit[:12], "trial-branch"]
