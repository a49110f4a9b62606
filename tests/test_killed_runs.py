"""A run killed before it wrote its report (SIGKILL, a CI cancel that escalates): its
`runs/<run id>/records.jsonl` is all that is left, and `tokencost report`, `tokencost
combine` and `tokencost html` rebuild the report from it, saying so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import genai_prices
import pytest

from pytest_tokencost.report.render import format_duration

from .htmlpage import Page, check_page_rows

TOKENCOST = str(Path(sys.executable).with_name("tokencost"))

# Two tests that finish (their records reach records.jsonl) and one that is still running
# when the run is killed (its record never leaves its process).
SUITE = """
import time
from pathlib import Path
from pytest_tokencost import Usage

def test_first(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=1_000, output=100))

def test_second(token_tracker):
    with token_tracker.step("draft"):
        token_tracker.record(model="gpt-4o", provider="openai",
                             usage=Usage(input=2_000, output=200, cache_read=500))
    token_tracker.record(model="in-house-7b", usage=Usage(input=30, output=3))

def test_running(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=4_000, output=400))
    Path("ready").write_text("")
    time.sleep(120)
"""

#: What the two finished tests recorded: 3,333 tokens (input and output), 3,300 of them gpt-4o's.
FINISHED_TOKENS = 1_000 + 100 + 2_000 + 200 + 30 + 3


def _micro(price: Decimal) -> int:
    return int((price * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _oracle(record: dict[str, object]) -> int:
    """genai-prices' own price of a gpt-4o record, at its time."""
    usage = record["usage"]
    assert isinstance(usage, dict)
    calc = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=usage["input"],
            output_tokens=usage["output"],
            cache_read_tokens=usage["cache_read"] or 0,
        ),
        "gpt-4o",
        provider_id="openai",
        genai_request_timestamp=datetime.fromisoformat(str(record["timestamp"])),
    )
    return _micro(calc.total_price)


def _run_dirs(out: Path) -> set[Path]:
    return set((out / "runs").iterdir()) if (out / "runs").is_dir() else set()


def _records_lines(run_dirs: set[Path]) -> list[str]:
    return [
        line
        for run_dir in run_dirs
        if (run_dir / "records.jsonl").is_file()
        for line in (run_dir / "records.jsonl").read_text().splitlines()
    ]


def kill_after(folder: Path, records: int, *args: str) -> Path:
    """Run pytest in `folder` in its own process group and SIGKILL the group once `records`
    records are in its records.jsonl and the file `ready` is there (a test is running);
    return the run's folder. Before the kill, the run's folder is checked to be refused as
    a run in progress."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    out = folder / ".tokencost"
    earlier = _run_dirs(out)
    deadline = time.monotonic() + 120
    try:
        while not (
            (folder / "ready").exists() and len(_records_lines(_run_dirs(out) - earlier)) >= records
        ):
            assert process.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "the records never arrived"
            time.sleep(0.02)
        (running,) = _run_dirs(out) - earlier
        alive = tokencost(folder, "report", str(running))  # a run in progress is not killed
        assert alive.returncode == 2 and "is still running" in alive.stderr, alive.stderr
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    (run_dir,) = _run_dirs(out) - earlier
    return run_dir


def tokencost(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOKENCOST, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def _check_rebuilt(report: dict[str, object], run_dir: Path) -> None:
    """The rebuilt report: the finished tests' records, exactly, flagged as rebuilt."""
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    run = report["run"]
    summary = report["summary"]
    assert isinstance(run, dict) and isinstance(summary, dict)
    assert (run["run_id"], run["status"], run["exit_status"]) == (
        run_dir.name,
        "interrupted",
        None,
    )
    totals = summary["totals"]
    assert totals["records"] == 3
    usage = totals["usage"]
    assert (usage["input"], usage["output"], usage["cache_read"]) == (3_030, 303, 500)
    assert usage["input"] + usage["output"] == FINISHED_TOKENS
    gpt = [r for r in records if r["model"] == "gpt-4o"]
    assert totals["cost_micro_usd"] == sum(map(_oracle, gpt)) == 9_875  # $2.50/$10 per MTok,
    assert summary["by_model"]["gpt-4o"]["cost_micro_usd"] == 9_875  # cache reads $1.25
    assert summary["by_model"]["in-house-7b"]["cost_micro_usd"] is None  # not recorded, not $0
    assert sorted(summary["by_test"]) == ["test_suite.py::test_first", "test_suite.py::test_second"]
    assert summary["unpriced_models"] == ["in-house-7b"]
    draft = summary["by_step"]["draft"]["usage"]
    assert (draft["input"], draft["output"], draft["cache_read"]) == (2_000, 200, 500)
    warnings = report["warnings"]
    assert isinstance(warnings, list)
    note = warnings[0].removeprefix(f"run {run_dir.name}: ")  # as `combine` names its shards
    assert note.startswith(f"rebuilt by tokencost from {run_dir / 'records.jsonl'}: ")
    assert "Not known: its budgets" in note
    # The run went on until it was killed; all it can know is the time to its last record.
    assert "its wall clock counts from its start to its last record" in note
    assert run["wall_s"] == _to_last_record(run_dir)  # still a number (the schema's)


def _to_last_record(run_dir: Path) -> float:
    """Seconds from the run's start (its run id's time, to the second) to its last record."""
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    last = max(datetime.fromisoformat(json.loads(line)["timestamp"]) for line in lines)
    started = datetime.strptime(run_dir.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return (last - started).total_seconds()


@pytest.mark.parametrize("workers", ["0", "2"], ids=["serial", "xdist"])
def test_a_killed_runs_records_are_reported_and_combined(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    plugin_pytester.makepyfile(test_suite=SUITE)
    run_dir = kill_after(plugin_pytester.path, 3, "-n", workers)
    out = plugin_pytester.path / ".tokencost"
    assert not (run_dir / "token-report.json").exists() and not (out / "token-report.json").exists()

    shown = tokencost(plugin_pytester.path, "report")  # the project's folder, found as pytest does
    assert shown.returncode == 0, shown.stderr
    head = (
        f"Run {run_dir.name} (" in shown.stdout
        and f"UTC, interrupted; rebuilt from {run_dir / 'records.jsonl'})" in shown.stdout
    )
    assert head, shown.stdout
    assert "Total:           3,333 tokens" in shown.stdout
    # 3,030 input tokens, 3,000 of gpt-4o's at $2.50/MTok (500 cache reads at $1.25): $0.00688;
    # 303 output, 300 at $10/MTok: $0.00300; in-house-7b's 30/3 have no price.
    assert "Total prompts:   3,030 tokens ($0.00688 + 1 not recorded)" in shown.stdout
    assert "Total artifacts:   303 tokens ($0.00300 + 1 not recorded)" in shown.stdout
    wall = format_duration(_to_last_record(run_dir))
    assert f"Wall clock:      {wall} (to its last record)" in shown.stdout, shown.stdout
    assert "Warning: rebuilt by tokencost from" in shown.stdout
    assert tokencost(plugin_pytester.path, "report", str(run_dir)).stdout == shown.stdout

    combined = tokencost(
        plugin_pytester.path, "combine", str(run_dir), "--out", "kept", "--markdown", "kept.md"
    )
    assert combined.returncode == 0, combined.stderr
    report = json.loads((plugin_pytester.path / "kept" / "token-report.json").read_text())
    # The combined report's wall clock ends at the killed run's last record too, and says so.
    again = tokencost(plugin_pytester.path, "report", "kept")
    assert f"Wall clock:      {wall} (a killed run's to its last record)" in again.stdout
    markdown = (plugin_pytester.path / "kept.md").read_text()
    assert f"**interrupted**, {wall} (a killed run's to its last record)" in markdown, markdown
    assert report["run"]["combined_from"] == [run_dir.name]
    assert report["warnings"][0].startswith(f"run {run_dir.name}: rebuilt by tokencost")
    _check_rebuilt({**report, "run": {**report["run"], "run_id": run_dir.name}}, run_dir)
    kept = (plugin_pytester.path / "kept" / "records.jsonl").read_text()
    assert kept == (run_dir / "records.jsonl").read_text()
    _check_page(plugin_pytester.path, run_dir, report)


def _check_page(folder: Path, run_dir: Path, report: dict[str, Any]) -> None:
    """`tokencost html` on the output folder and on the run's own folder: the rebuilt run's
    page, every row as the rebuilt report has it, its warning shown."""
    records = run_dir / "records.jsonl"
    before = records.read_text()
    written = tokencost(folder, "html")
    assert written.returncode == 0, written.stderr
    page_file = folder / ".tokencost" / "token-report.html"
    assert written.stdout.strip() == (
        f"wrote {page_file} (run {run_dir.name}, killed: rebuilt from {records})"
    )
    page = Page(page_file.read_text(encoding="utf-8"))
    check_page_rows(page, report)
    assert f"rebuilt by tokencost from {records}" in page.text
    wall = format_duration(_to_last_record(run_dir))
    assert f"wall clock {wall} (to its last record)" in page.text, page.text
    again = tokencost(folder, "html", str(run_dir), "--out", "killed.html")
    assert again.returncode == 0, again.stderr
    assert Page((folder / "killed.html").read_text(encoding="utf-8")).rows("t-tests") == page.rows(
        "t-tests"
    )
    assert records.read_text() == before and not (run_dir / "token-report.json").exists()


def test_a_torn_last_line_is_left_out_and_named(plugin_pytester: pytest.Pytester) -> None:
    """A finished run made into a killed one: its report removed, and half a record appended,
    as a kill landing mid-write leaves it."""
    plugin_pytester.makepyfile(test_suite=SUITE.replace("time.sleep(120)", "pass"))
    result = plugin_pytester.runpytest("-p", "no:randomly", "-k", "not running")
    result.assert_outcomes(passed=2, deselected=1)
    out = plugin_pytester.path / ".tokencost"
    (run_dir,) = (out / "runs").iterdir()
    for report in (run_dir / "token-report.json", out / "token-report.json"):
        report.unlink()
    records = run_dir / "records.jsonl"
    whole = records.read_text()
    torn = whole.splitlines()[0][:57]
    records.write_text(whole + torn)

    shown = tokencost(plugin_pytester.path, "report", "--brief")
    assert shown.returncode == 0, shown.stderr
    lines = " ".join(shown.stdout.split())
    assert "Total: 3,333 tokens" in lines
    assert (
        f"Warning: line 4 of {records} is torn (the run was killed while writing it: 57 bytes"
        in lines
    )
    records.write_text(whole)
    _check_rebuilt(_rebuilt_json(plugin_pytester.path, run_dir), run_dir)


def _rebuilt_json(folder: Path, run_dir: Path) -> dict[str, object]:
    combined = tokencost(folder, "combine", str(run_dir), "--out", "kept", "--no-history")
    assert combined.returncode == 0, combined.stderr
    report: dict[str, object] = json.loads((folder / "kept" / "token-report.json").read_text())
    run = report["run"]
    assert isinstance(run, dict)
    report["run"] = {**run, "run_id": run_dir.name}
    return report


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "has neither token-report.json nor records.jsonl: its run ended before recording"),
        ('{"seq": 0, "run_', "holds no whole record: the run in"),
        ('{"seq": 0}\n{"seq": 1}\n', "line 1 is not a record"),
    ],
    ids=["no-records", "only-a-torn-line", "not-records"],
)
def test_a_killed_run_without_whole_records_is_a_one_line_error(
    plugin_pytester: pytest.Pytester, content: str | None, problem: str
) -> None:
    run_dir = plugin_pytester.path / ".tokencost" / "runs" / "20260101T000000Z-0000dead"
    run_dir.mkdir(parents=True)
    if content is not None:
        (run_dir / "records.jsonl").write_text(content)
    shown = tokencost(plugin_pytester.path, "report", str(run_dir))
    assert shown.returncode == 2 and not shown.stdout
    (line,) = shown.stderr.splitlines()
    assert line.startswith(f"tokencost: error: {run_dir}") and problem in line, line
    combined = tokencost(plugin_pytester.path, "combine", str(run_dir), "--out", "kept")
    assert combined.returncode == 2 and problem in combined.stderr


def test_a_newer_killed_run_is_reported_before_an_older_finished_one(
    plugin_pytester: pytest.Pytester,
) -> None:
    """An output folder whose top-level report is an older run's: the killed run wrote later,
    so it is the newest run there and `tokencost report` rebuilds it; once a later run
    finishes, that one is shown again."""
    plugin_pytester.makepyfile(test_suite=SUITE)
    plugin_pytester.runpytest("-p", "no:randomly", "-k", "first").assert_outcomes(passed=1)
    run_dir = kill_after(plugin_pytester.path, 3)
    shown = tokencost(plugin_pytester.path, "report", "--brief")
    assert (
        f"Run {run_dir.name} (" in shown.stdout and "Total:           3,333 tokens" in shown.stdout
    )
    plugin_pytester.runpytest("-p", "no:randomly", "-k", "first").assert_outcomes(passed=1)
    shown = tokencost(plugin_pytester.path, "report", "--brief")
    assert "rebuilt" not in shown.stdout and "Total:           1,100 tokens" in shown.stdout
