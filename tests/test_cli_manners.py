"""The `tokencost` command's manners: --version, finding the project's report, pipes, ingest."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

TOKENCOST = str(Path(sys.executable).with_name("tokencost"))

SUITE = """
from pytest_tokencost import Usage

def test_a(token_tracker):
    token_tracker.record(model="gpt-4o", usage=Usage(input=1_000, output=100))
"""


def test_version(pytester: pytest.Pytester) -> None:
    result = pytester.run(TOKENCOST, "--version")
    assert result.ret == 0
    assert result.stdout.str().strip() == f"tokencost {version('pytest-tokencost')}"


def test_report_reads_tokencost_dir_from_the_projects_pytest_configuration(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyprojecttoml('[tool.pytest.ini_options]\ntokencost_dir = "build/cost"\n')
    (plugin_pytester.path / "tox.ini").unlink()  # pyproject.toml is the configuration
    plugin_pytester.makepyfile(test_suite=SUITE)
    plugin_pytester.runpytest().assert_outcomes(passed=1)
    assert (plugin_pytester.path / "build" / "cost" / "token-report.json").exists()
    # From a sub-folder of the project, as pytest finds its rootdir.
    sub = plugin_pytester.mkdir("src")
    result = subprocess.run(
        [TOKENCOST, "report"], cwd=sub, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Total:           1,100 tokens ($0.00350)" in result.stdout  # 2,500 + 1,000 micro
    # A folder is accepted as well as a report file.
    by_folder = plugin_pytester.run(TOKENCOST, "report", "build/cost", "--brief")
    assert by_folder.ret == 0
    assert "Total:" in by_folder.stdout.str() and "Per model:" not in by_folder.stdout.str()


def test_report_without_a_report_says_where_it_looked(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntokencost_dir = out\n")
    result = pytester.run(TOKENCOST, "report")
    assert result.ret == 2
    result.stderr.fnmatch_lines(
        [
            "tokencost: error: no report at */out/token-report.json (tokencost_dir in */tox.ini); "
            "run pytest first, or give a report or its folder"
        ]
    )


def test_no_broken_pipe_when_piped_to_head(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(test_suite=SUITE)
    plugin_pytester.runpytest().assert_outcomes(passed=1)
    result = subprocess.run(
        f"'{TOKENCOST}' report | head -1",
        shell=True,
        cwd=plugin_pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.startswith("=") and "Token & Cost" in result.stdout
    assert "BrokenPipeError" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr == ""


def test_ingest_tables_have_a_per_day_table_and_no_runs_or_wall(
    corpus: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = pytester.run(TOKENCOST, "ingest", str(corpus / "codex"), "--out", "out")
    assert result.ret == 0
    out = result.stdout.str()
    assert "Per day:" in out
    for header in (" runs ", " wall"):
        assert header not in out
    assert max(len(line) for line in out.splitlines()) <= 200


def test_the_cli_section_fits_80_columns(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_pytester.makepyfile(
        test_suite=SUITE.replace("def test_a(", "def test_" + "long_name_" * 12 + "(")
    )
    plugin_pytester.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("COLUMNS", "80")
    result = plugin_pytester.run(TOKENCOST, "report")
    lines = result.stdout.str().splitlines()
    assert len(lines) > 10 and max(map(len, lines)) <= 80
    assert lines[0] == " Token & Cost ".center(80, "=")
