"""The output folder: unusable folders, write failures, links, and runs that share a folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SUITE = """
import pytest
from pytest_tokencost import Usage

@pytest.mark.parametrize("n", range({tests}))
def test_spend(token_tracker, n):
    token_tracker.record(model="gpt-4o", usage=Usage(input=100, output=10))
"""


def _report(folder: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((folder / "token-report.json").read_text())


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("problem", ["a file above it", "not writable"])
def test_an_unusable_cost_dir_is_a_usage_error_before_any_test(
    plugin_pytester: pytest.Pytester, problem: str
) -> None:
    plugin_pytester.makepyfile(SUITE.format(tests=3))
    target = plugin_pytester.path / "out"
    if problem == "a file above it":
        target.write_text("not a folder")
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write into read-only folders")
        target.mkdir()
        target.chmod(0o500)
    result = plugin_pytester.runpytest_subprocess("--cost-dir", str(target / "cost"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --cost-dir *cost* cannot be*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "test_spend" not in result.stdout.str()


def test_a_cost_dir_that_is_a_file_is_refused_by_name(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(SUITE.format(tests=1))
    (plugin_pytester.path / "report.txt").write_text("")
    result = plugin_pytester.runpytest_subprocess("--cost-dir", "report.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --cost-dir *report.txt is not a folder*"])


def test_a_full_disk_mid_run_is_a_warning_and_an_error_exit_and_every_test_runs(
    plugin_pytester: pytest.Pytester,
) -> None:
    """RLIMIT_FSIZE makes every write that grows a file past the limit fail with EFBIG, as a
    full disk fails them with ENOSPC (Python ignores SIGXFSZ, so the write raises)."""
    plugin_pytester.makeconftest("""
        import resource

        def pytest_runtest_setup(item):
            if item.name == "test_spend[15]":
                resource.setrlimit(resource.RLIMIT_FSIZE, (4_000, 4_000))
    """)
    plugin_pytester.makepyfile(SUITE.format(tests=200))
    # Output through a pipe: the limit would cut a file that pytester collects it in.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--cost-report"],
        cwd=plugin_pytester.path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout
    assert "200 passed" in run.stdout
    assert "INTERNALERROR" not in run.stdout + run.stderr
    result = pytest.LineMatcher(run.stdout.splitlines())
    # The section still shows every test's numbers (they were kept in memory), then the errors.
    result.fnmatch_lines(
        [
            "*Token & Cost*",
            "Total:*22,000 tokens*",
            "ERROR: cannot append to *records.jsonl*File too large*",
            "ERROR: cannot write the token report in *.tokencost: File too large",
        ]
    )


def test_links_in_the_output_folder_are_not_followed(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(SUITE.format(tests=2))
    outside = plugin_pytester.path / "outside.txt"
    outside.write_text("precious\n")
    out = plugin_pytester.path / ".tokencost"
    plugin_pytester.runpytest_subprocess().assert_outcomes(passed=2)
    (out / "records.jsonl").unlink()
    (out / "records.jsonl").symlink_to(outside)
    result = plugin_pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["ERROR: *records.jsonl is a symbolic link*"])
    assert outside.read_text() == "precious\n"


def test_every_record_line_carries_its_run_and_the_report_its_records(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(SUITE.format(tests=3))
    plugin_pytester.runpytest_subprocess().assert_outcomes(passed=3)
    out = plugin_pytester.path / ".tokencost"
    first = _report(out)["run"]["run_id"]
    plugin_pytester.runpytest_subprocess().assert_outcomes(passed=3)
    report = _report(out)
    second = report["run"]["run_id"]
    assert first != second and report["run"]["status"] == "passed"
    assert {line["run_id"] for line in _lines(out / "records.jsonl")} == {second}
    # Each run keeps its own folder: the first run's records are still there, whole.
    assert {line["run_id"] for line in _lines(out / "runs" / first / "records.jsonl")} == {first}
    assert _report(out / "runs" / first)["run"]["run_id"] == first


def test_two_runs_sharing_a_folder_keep_each_others_records_and_budgets(
    plugin_pytester: pytest.Pytester,
) -> None:
    """Two pytest processes at once on one folder, both with a session budget (ledger)."""
    plugin_pytester.makepyfile("""
        import time
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.parametrize("n", range(30))
        def test_spend(token_tracker, n):
            token_tracker.record(model="gpt-4o", usage=Usage(input=100, output=10))
            time.sleep(0.02)
    """)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "--cost-budget-tokens=1000000",
    ]
    runs = [
        subprocess.Popen(command, cwd=plugin_pytester.path, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    time.sleep(0.1)
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
        assert "30 passed" in output and "LedgerError" not in output
    out = plugin_pytester.path / ".tokencost"
    folders = sorted((out / "runs").iterdir())
    assert len(folders) == 2
    for folder in folders:
        lines = _lines(folder / "records.jsonl")
        assert len(lines) == 30 and {line["run_id"] for line in lines} == {folder.name}
        report = _report(folder)
        assert report["summary"]["totals"]["usage"]["input"] == 3_000
        session = [b for b in report["budgets"] if b["scope"] == "session"]
        assert session[0]["used"] == 3_300
    # The top-level pair belongs to one run, whichever finished last.
    top = _report(out)["run"]["run_id"]
    assert {line["run_id"] for line in _lines(out / "records.jsonl")} == {top}
