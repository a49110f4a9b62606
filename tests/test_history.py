"""The run history (history.sqlite), `tokencost history` and `tokencost compare`, end to end."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_tokencost.cli import main
from pytest_tokencost.history import (
    SCHEMA_VERSION,
    read_aggregates,
    read_calibration,
    read_run,
    read_runs,
    read_test_history,
)
from pytest_tokencost.history_schema import HistoryDocument, history_schema
from tests.conftest import copy_scenario

#: These tests match whole report lines: a wide terminal keeps them unwrapped.
pytestmark = pytest.mark.usefixtures("wide_terminal")

# gpt-4o in genai-prices 0.2.3: $2.50 per million input tokens, $10 per million output tokens,
# so a token of input costs 2.5 micro-USD and one of output 10.
SUITE = """
import os
from pytest_tokencost import Usage

def _n(name, default):
    return int(os.environ.get(name, default))

def test_small(token_tracker):
    token_tracker.record(usage=Usage(input=1000, output=100), model="gpt-4o")

def test_big(token_tracker):
    with token_tracker.step("plan"):
        token_tracker.record(
            usage=Usage(input=_n("BIG_IN", 10000), output=1000), model="gpt-4o"
        )
"""


@pytest.fixture
def suite(plugin_pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester with a two-test suite whose big test's input comes from $BIG_IN."""
    plugin_pytester.makepyfile(test_suite=SUITE)
    return plugin_pytester


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, big_in: int, *args: str
) -> pytest.RunResult:
    monkeypatch.setenv("BIG_IN", str(big_in))
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what in-process pytest runs printed before
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_three_runs_make_three_rows_with_per_test_rows(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for big_in in (10_000, 11_000, 12_000):
        _run(suite, monkeypatch, big_in).assert_outcomes(passed=2)
    folder = suite.path / ".tokencost"
    runs = read_runs(folder)
    assert [r.totals.total for r in runs] == [14_100, 13_100, 12_100]  # newest first
    # small: 1000 x 2.5 + 100 x 10 = 3,500; big: BIG_IN x 2.5 + 1000 x 10
    assert [r.totals.cost_micro_usd for r in runs] == [43_500, 41_000, 38_500]
    assert all(r.tests == 2 and r.status == "passed" and not r.interrupted for r in runs)
    assert runs[0].genai_prices_version and runs[0].argv[:2] == ["-p", "no:cacheprovider"]

    big = read_test_history(folder, "test_suite.py::test_big")
    assert [(t.amounts.input, t.amounts.output) for t in big] == [
        (12_000, 1000),
        (11_000, 1000),
        (10_000, 1000),
    ]
    assert [t.amounts.cost_micro_usd for t in big] == [40_000, 37_500, 35_000]
    steps = read_aggregates(folder, runs[0].run_id, "step")
    assert {a.key: a.amounts.total for a in steps} == {"(no step)": 1100, "plan": 13_000}
    assert {a.key for a in read_aggregates(folder, runs[0].run_id, "model")} == {"gpt-4o"}

    status, out, _ = _cli(capsys, "history", "--json", "--last", "2", "--dir", str(folder))
    assert status == 0
    document = json.loads(out)
    HistoryDocument.model_validate(document)
    assert [run["run_id"] for run in document["runs"]] == [runs[0].run_id, runs[1].run_id]
    # the change of the second run shown is against the third, which is not shown
    assert [run["change"] for run in document["runs"]] == [
        {"tokens": 1000, "tokens_percent": 7.63, "cost_micro_usd": 2500},
        {"tokens": 1000, "tokens_percent": 8.26, "cost_micro_usd": 2500},
    ]
    assert document["runs"][0]["totals"]["cost_micro_usd"] == 43_500

    status, out, _ = _cli(capsys, "history", "--dir", str(folder))
    assert status == 0
    assert runs[2].run_id in out and "+1,000 (+7.6%), +$0.00250" in out

    status, out, _ = _cli(
        capsys, "history", "--test", "test_suite.py::test_big", "--json", "--dir", str(folder)
    )
    document = json.loads(out)
    HistoryDocument.model_validate(document)
    assert [r["totals"]["input"] for r in document["test_runs"]] == [12_000, 11_000, 10_000]
    assert document["runs"] == []


def test_compare_by_id_index_and_path(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(suite, monkeypatch, 10_000).assert_outcomes(passed=2)
    folder = suite.path / ".tokencost"
    saved = suite.path / "baseline"  # what CI keeps of the main branch's run
    saved.mkdir()
    (saved / "token-report.json").write_text((folder / "token-report.json").read_text())
    _run(suite, monkeypatch, 12_000).assert_outcomes(passed=2)
    first = read_run(folder, "-2").run_id

    results = []
    for base in (first, "-2", str(saved), str(saved / "token-report.json")):
        status, out, _ = _cli(
            capsys, "compare", base, "-1", "--format", "json", "--dir", str(folder)
        )
        assert status == 0
        results.append(json.loads(out))
    for result in results:
        assert result["base"]["run_id"] == first
        assert result["totals"]["tokens_change"] == 2000
        assert result["totals"]["cost_change_micro_usd"] == 5000
        big = {d["key"]: d for d in result["tests"]}["test_suite.py::test_big"]
        assert big["status"] == "changed" and big["tokens_change"] == 2000
        assert {d["key"]: d["status"] for d in result["tests"]}["test_suite.py::test_small"] == (
            "same"
        )
        # same prices: all of the change is tokens
        assert result["price_split"]["from_tokens_micro_usd"] == 5000
        assert result["price_split"]["from_prices_micro_usd"] == 0
    # the saved report has no records beside it: re-priced from its per-model totals, said so
    assert results[0]["price_split"]["method"] == "records"
    assert results[2]["price_split"]["method"] == "per-model totals"

    status, out, _ = _cli(capsys, "compare", "--dir", str(folder))
    assert status == 0
    assert "test_suite.py::test_big" in out and "+2,000" in out
    assert "+$0.00500 from tokens, +$0.00 from prices" in out
    status, out, _ = _cli(capsys, "compare", "--format", "markdown", "--dir", str(folder))
    assert out.startswith("## Token & Cost") and "| test_suite.py::test_big" in out

    status, _, err = _cli(capsys, "compare", "no-such-run", "-1", "--dir", str(folder))
    assert status == 2 and "no run 'no-such-run'" in err
    status, _, err = _cli(capsys, "compare", "-9", "-1", "--dir", str(folder))
    assert status == 2 and "holds 2 run(s)" in err


def test_new_and_removed_tests(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        test_a="""
        from pytest_tokencost import Usage
        def test_old(token_tracker):
            token_tracker.record(usage=Usage(input=10, output=1), model="gpt-4o")
        """
    )
    plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    (plugin_pytester.path / "test_a.py").unlink()
    plugin_pytester.makepyfile(
        test_b="""
        from pytest_tokencost import Usage
        def test_new(token_tracker):
            token_tracker.record(usage=Usage(input=10, output=1), model="gpt-4o")
        """
    )
    result = plugin_pytester.runpytest("-p", "no:cacheprovider", "--cost-compare")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*Token & Cost: compared with the previous run*",
            "New tests: test_b.py::test_new",
            "Removed tests: test_a.py::test_old",
        ]
    )


PRICES = """
[models."in-house-7b"]
input_mtok = {input}
output_mtok = {output}
"""

PRICED_SUITE = """
import os
from pytest_tokencost import Usage

def test_call(token_tracker):
    token_tracker.record(
        usage=Usage(input=int(os.environ["CALL_IN"]), output=500), model="in-house-7b"
    )
"""


def test_cost_change_split_into_tokens_and_prices(
    plugin_pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run 1: 1,000 in + 500 out at $1/$2 per MTok = 2,000 micro-USD. Run 2: 1,500 in + 500
    out at $2/$3 = 4,500. Run 1's usage at run 2's prices: 1,000 x 2 + 500 x 3 = 3,500. So of
    the +2,500: +1,000 from tokens (4,500 - 3,500) and +1,500 from prices (3,500 - 2,000)."""
    plugin_pytester.makepyfile(test_priced=PRICED_SUITE)
    prices = plugin_pytester.path / "prices.toml"
    prices.write_text(PRICES.format(input=1.0, output=2.0))
    monkeypatch.setenv("CALL_IN", "1000")
    args = ["-p", "no:cacheprovider", f"--cost-prices={prices}"]
    plugin_pytester.runpytest(*args).assert_outcomes(passed=1)
    prices.write_text(PRICES.format(input=2.0, output=3.0))
    monkeypatch.setenv("CALL_IN", "1500")
    result = plugin_pytester.runpytest(*args, "--cost-compare")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "Cost change: +$0.00250 = +$0.00100 from tokens, +$0.00150 from prices (base usage at "
            "the head's prices: $0.00350, re-priced from records)"
        ]
    )
    folder = plugin_pytester.path / ".tokencost"
    status, out, _ = _cli(capsys, "compare", "--format", "json", "--dir", str(folder))
    assert status == 0
    result_json = json.loads(out)
    assert result_json["totals"]["cost_change_micro_usd"] == 2500
    assert result_json["price_split"] == {
        "base_at_head_prices_micro_usd": 3500,
        "from_tokens_micro_usd": 1000,
        "from_prices_micro_usd": 1500,
        "method": "records",
        "note": None,
    }
    # without the base run's records: from its per-model totals, the same here (one model)
    for run_folder in (folder / "runs").iterdir():
        (run_folder / "records.jsonl").unlink()
    status, out, _ = _cli(capsys, "compare", "--format", "json", "--dir", str(folder))
    split = json.loads(out)["price_split"]
    assert (split["from_tokens_micro_usd"], split["from_prices_micro_usd"]) == (1000, 1500)
    assert split["method"] == "per-model totals" and "approximated" in split["note"]
    # the head's price file changed since: the split cannot be made, and says why
    prices.write_text(PRICES.format(input=9.0, output=9.0))
    status, out, _ = _cli(capsys, "compare", "--format", "json", "--dir", str(folder))
    split = json.loads(out)["price_split"]
    assert split["from_prices_micro_usd"] is None and "has changed since" in split["note"]


def test_unpriced_run_shows_not_recorded(
    plugin_pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin_pytester.makepyfile(
        """
        from pytest_tokencost import Usage
        def test_unknown(token_tracker):
            token_tracker.record(usage=Usage(input=10, output=1), model="no-such-model-xyz")
        def test_known(token_tracker):
            token_tracker.record(usage=Usage(input=10, output=1), model="gpt-4o")
        """
    )
    plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    folder = plugin_pytester.path / ".tokencost"
    (run,) = read_runs(folder)
    assert run.totals.cost_micro_usd is None and run.totals.unpriced_records == 1
    assert run.totals.priced_micro_usd == 35  # the known part is kept, not shown as the cost
    status, out, _ = _cli(capsys, "history", "--json", "--dir", str(folder))
    assert status == 0 and json.loads(out)["runs"][0]["totals"]["cost_micro_usd"] is None
    status, out, _ = _cli(capsys, "history", "--dir", str(folder))
    assert status == 0 and "not recorded" in out and "$0.00" not in out


def test_history_off_and_keep(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        """
        from pytest_tokencost import Usage
        def test_one(token_tracker):
            token_tracker.record(usage=Usage(input=10, output=1), model="gpt-4o")
        """
    )
    folder = plugin_pytester.path / ".tokencost"
    plugin_pytester.runpytest("-p", "no:cacheprovider", "--cost-no-history").assert_outcomes(
        passed=1
    )
    assert (folder / "token-report.json").is_file()
    assert not (folder / "history.sqlite").exists()
    plugin_pytester.makeini("[pytest]\ntokencost_history = false\n")
    plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not (folder / "history.sqlite").exists()
    plugin_pytester.makeini("[pytest]\ntokencost_history_keep = 2\n")
    for _ in range(3):
        plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert len(read_runs(folder)) == 2
    plugin_pytester.runpytest("-p", "no:cacheprovider", "--cost-history-keep=1")
    (kept,) = read_runs(folder)
    assert read_aggregates(folder, kept.run_id, "test")
    with sqlite3.connect(folder / "history.sqlite") as connection:  # pruned runs' rows too
        assert connection.execute("SELECT COUNT(DISTINCT run) FROM aggregates").fetchone() == (1,)


def test_bad_history_options_are_usage_errors(plugin_pytester: pytest.Pytester) -> None:
    for option, message in (
        ("--cost-history-keep=0", "*is not a positive whole number of runs*"),
        ("--cost-compare-fail=tokens", "*is not METRIC:LIMIT*"),
        ("--cost-compare-fail=speed:10%", "*is not METRIC:LIMIT*"),
        ("--cost-compare-fail=usd:-1", "*is not a non-negative number*"),
        ("--cost-fail-over=tokens:10%", "*takes an amount*"),
    ):
        result = plugin_pytester.runpytest(option)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])
    plugin_pytester.makeini("[pytest]\ntokencost_compare_fail = tokens:lots\n")
    result = plugin_pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini tokencost_compare_fail*not a non-negative number*"])


def test_corrupt_history_is_moved_aside(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = suite.path / ".tokencost"
    folder.mkdir()
    (folder / "history.sqlite").write_bytes(b"this is not a database, it is a text file\n" * 50)
    result = _run(suite, monkeypatch, 10_000, "--cost-report")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*Warning: history *history.sqlite could not be read*moved aside*"]
    )
    (moved,) = folder.glob("history.sqlite.corrupt-*")
    assert moved.read_bytes().startswith(b"this is not a database")
    assert len(read_runs(folder)) == 1


def test_newer_history_is_moved_aside(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = suite.path / ".tokencost"
    folder.mkdir()
    with sqlite3.connect(folder / "history.sqlite") as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    # readers refuse it with a message saying what to do
    with pytest.raises(Exception, match="newer than this pytest-tokencost reads"):
        read_runs(folder)
    result = _run(suite, monkeypatch, 10_000)  # no --cost-report: the warning still shows
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [f"*Warning: history*schema version {SCHEMA_VERSION + 1}*moved aside*"]
    )
    assert len(list(folder.glob(f"history.sqlite.v{SCHEMA_VERSION + 1}-*"))) == 1
    assert len(read_runs(folder)) == 1


def test_two_concurrent_runs_both_land(suite: pytest.Pytester) -> None:
    """Two pytest processes finishing at the same time append to one history."""
    suite.makepyfile(
        test_many="""
        import pytest
        from pytest_tokencost import Usage
        @pytest.mark.parametrize("i", range(100))
        def test_each(token_tracker, i):
            token_tracker.record(usage=Usage(input=100 + i, output=10), model="gpt-4o")
        """
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    for _ in range(2):
        processes = [
            subprocess.Popen(
                command, cwd=suite.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120)[0].decode() for p in processes]
        assert [p.returncode for p in processes] == [0, 0], outputs
    runs = read_runs(suite.path / ".tokencost")
    assert len(runs) == 4 and len({r.run_id for r in runs}) == 4
    assert all(r.tests == 102 for r in runs)


def test_git_commit_branch_and_dirty(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=suite.path, check=True, capture_output=True, text=True
        ).stdout.strip()

    try:
        git("init", "-q", "-b", "feature-x")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    for name in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BRANCH_NAME"):
        monkeypatch.delenv(name, raising=False)
    git("add", "test_suite.py", "tox.ini")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    _run(suite, monkeypatch, 10_000).assert_outcomes(passed=2)
    (suite.path / "test_suite.py").write_text(SUITE + "\n# edited\n")
    _run(suite, monkeypatch, 10_000).assert_outcomes(passed=2)
    runs = read_runs(suite.path / ".tokencost")
    commit = git("rev-parse", "HEAD")
    assert [(r.git_commit, r.git_branch, r.git_dirty) for r in runs] == [
        (commit, "feature-x", True),
        (commit, "feature-x", False),
    ]
    assert len(read_runs(suite.path / ".tokencost", branch="feature-x")) == 2


@pytest.mark.harness
def test_calibration_run_keeps_m18_and_pass_rate(plugin_pytester: pytest.Pytester) -> None:
    scenario = copy_scenario(plugin_pytester.path, cases=2)
    result = plugin_pytester.runpytest(
        "-p", "no:cacheprovider", str(scenario), "-m", "calibration", "--adapter=stub"
    )
    result.assert_outcomes(passed=2)
    folder = plugin_pytester.path / ".tokencost"
    (run,) = read_runs(folder)
    report = json.loads((folder / "calibration-report.json").read_text())
    assert run.adapter == "stub" and run.scenario == "ptp-mock"
    assert run.m18 == report["metrics"]["m18_total_prompt_tokens"] > 0
    assert run.pass_rate == 1.0
    (row,) = read_calibration(folder, run.run_id)
    assert (row.cases, row.passed, row.m18_source) == (2, 2, report["metrics"]["m18_source"])
    assert {a.key for a in read_aggregates(folder, run.run_id, "case")} == {
        "ptp-mock::case-01",
        "ptp-mock::case-02",
    }


def test_history_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _cli(capsys, "history", "--dir", str(tmp_path))
    assert status == 2 and "no run history at" in err
    (tmp_path / "history.sqlite").write_text("not sqlite" * 100)
    status, _, err = _cli(capsys, "history", "--dir", str(tmp_path))
    assert status == 2 and "cannot be read" in err and "Traceback" not in err


def test_history_schema_in_the_repo_matches_the_models(capsys: pytest.CaptureFixture[str]) -> None:
    committed = Path(__file__).parents[1] / "pytest_tokencost" / "schema"
    assert json.loads((committed / "history.schema.json").read_text()) == history_schema(), (
        "regenerate with: tokencost schema history > pytest_tokencost/schema/history.schema.json"
    )
    status, out, _ = _cli(capsys, "schema", "history")
    assert status == 0 and json.loads(out) == history_schema()


@pytest.mark.parametrize("command", [["schema", "history"], ["history", "--json"]])
def test_a_reader_that_stops_early_gets_no_traceback(
    command: list[str], suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tokencost history --json | head -1`: the reader has gone when the output is written.

    The pipe's read end is closed before the command starts, so its first write fails as it
    does when `head` has read its line and quit. The command ends quietly (status 0, nothing
    on stderr), not with a BrokenPipeError traceback.
    """
    _run(suite, monkeypatch, 1_000).assert_outcomes(passed=2)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pytest_tokencost.cli import main; sys.exit(main(sys.argv[1:]))",
                *command,
            ],
            cwd=suite.path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


def test_argv_in_the_history_is_redacted(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        """
        from pytest_tokencost import Usage
        def test_one(token_tracker):
            token_tracker.record(usage=Usage(input=10, output=1), model="gpt-4o")
        """
    )
    key = "sk-proj-" + "Ab3" * 16
    # a secret in an ini override of the command line (harmless: one more file pattern)
    result = plugin_pytester.runpytest(
        "-p", "no:cacheprovider", "-o", f"python_files=test_*.py {key}"
    )
    result.assert_outcomes(passed=1)
    (run,) = read_runs(plugin_pytester.path / ".tokencost")
    assert key not in json.dumps(run.argv) and "[REDACTED]" in json.dumps(run.argv)
    history = (plugin_pytester.path / ".tokencost" / "history.sqlite").read_bytes()
    assert key.encode() not in history


def test_history_damaged_inside_is_moved_aside(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file with a valid header whose tables are gone fails on append, not on open."""
    _run(suite, monkeypatch, 10_000).assert_outcomes(passed=2)
    folder = suite.path / ".tokencost"
    with sqlite3.connect(folder / "history.sqlite") as connection:
        connection.execute("DROP TABLE aggregates")
    result = _run(suite, monkeypatch, 10_000)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["Warning: history *history.sqlite is damaged*moved aside*"])
    assert len(read_runs(folder)) == 1
    moved = list(folder.glob("history.sqlite.corrupt-*"))
    assert len([p for p in moved if not p.name.endswith(("-wal", "-shm"))]) == 1


ODD_IDS_SUITE = """
import json
import os

import pytest

CHAT = json.loads({chat!r})  # a recorded o3-mini Chat Completion (usage: 7 in, 87 out)


def _call(token_tracker, n):
    for i in range(n):
        token_tracker.observe(dict(CHAT, id=f"{{CHAT['id']}}-{{i}}"))


@pytest.mark.parametrize(
    "name", ["a|b", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "*x*"]
)
def test_odd(token_tracker, name):
    _call(token_tracker, int(os.environ["CALLS"]))


if os.environ.get("WITH_NEW"):
    @pytest.mark.parametrize("name", ["x|y"])
    def test_new(token_tracker, name):
        _call(token_tracker, 1)
"""


def test_markdown_compare_keeps_odd_test_ids_literal(
    plugin_pytester: pytest.Pytester,
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`tokencost compare --format markdown` (for a pull-request comment or a CI job summary):
    a `|` in a parametrize id does not split its table row, markup in an id stays text, and
    the new-tests line is an item of the list above it, not glued to its last item."""
    import re

    import yaml

    recorded = yaml.safe_load(
        (corpus / "openai" / "pydantic-ai__chat_max_completion_tokens_o3-mini.yaml").read_text()
    )
    chat = recorded["interactions"][0]["response"]["parsed_body"]
    plugin_pytester.makepyfile(test_suite=ODD_IDS_SUITE.format(chat=json.dumps(chat)))
    monkeypatch.setenv("CALLS", "1")
    plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)
    monkeypatch.setenv("CALLS", "2")
    monkeypatch.setenv("WITH_NEW", "1")
    plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=5)
    folder = str(plugin_pytester.path / ".tokencost")
    status, out, _ = _cli(capsys, "compare", "--format", "markdown", "--dir", folder)
    assert status == 0
    assert not re.search(r"(?<!\\)<[A-Za-z/]", out)  # no tag: every < escaped
    lines = out.splitlines()
    new = lines.index(r"- New tests: test_suite.py::test_new\[x\|y\]")
    assert lines[new - 1].startswith("- Note: ") or lines[new - 1].startswith("- Cost")
    rows = [line for line in lines if line.startswith("|") and "---" not in line]
    cells = {re.split(r"(?<!\\)\|", row)[1].strip(): row for row in rows}
    assert all(len(re.split(r"(?<!\\)\|", row)) == 9 for row in rows)  # 7 columns
    # 94 tokens a call (7 + 87, SOURCES.md): one call more in each odd test
    for escaped in (
        r"test_suite.py::test_odd\[a\|b\]",
        r"test_suite.py::test_odd\[\<script\>alert(1)\</script\>\]",
        r"test_suite.py::test_odd\[\<img src=x onerror=alert(1)\>\]",
        r"test_suite.py::test_odd\[\*x\*\]",
    ):
        assert re.split(r"\s*(?<!\\)\|\s*", cells[escaped])[4:6] == ["94", "188"]


def test_history_test_names_the_node_ids_a_short_name_matches(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--test test_big` (the function name, not the node id) finds nothing; the error names
    the latest run's tests that contain it, so the user can paste one back."""
    _run(suite, monkeypatch, 1_000).assert_outcomes(passed=2)
    folder = str(suite.path / ".tokencost")
    status, _, err = _cli(capsys, "history", "--dir", folder, "--test", "test_big")
    assert status == 2
    assert err.strip().endswith(
        "(the full node id is needed; the latest run has test_suite.py::test_big)"
    )
    status, _, err = _cli(capsys, "history", "--dir", folder, "--test", "nowhere")
    assert status == 2 and err.strip().endswith("(node ids look like tests/test_x.py::test_name)")
    status, out, _ = _cli(capsys, "history", "--dir", folder, "--test", "test_suite.py::test_big")
    assert status == 0 and "test_suite.py::test_big" in out


def _run_row(run_id: str, commit: str | None, dirty: bool | None) -> dict[str, object]:
    return {
        "run_id": run_id,
        "started": "2026-11-23T04:03:00+00:00",
        "git": {"commit": commit, "branch": "main" if commit else None, "dirty": dirty},
        "tests": 2,
        "totals": {
            "total": 1_200,
            "cost_micro_usd": 4_500,
            "replayed_records": 0,
            "replayed_cost_micro_usd": 0,
        },
        "change": None,
        "budget_status": None,
        "status": "passed",
    }


@pytest.mark.parametrize(
    ("commit", "dirty", "footnote"),
    [
        (None, None, "(change: against the run before)"),  # outside git: no "*" to explain
        ("0123456789abcdef", False, "(change: against the run before)"),
        ("0123456789abcdef", True, "(* uncommitted changes; change: against the run before)"),
    ],
)
def test_the_history_footnote_explains_only_what_the_table_shows(
    commit: str | None, dirty: bool | None, footnote: str
) -> None:
    from pytest_tokencost.report.history_view import history_table

    lines = history_table({"runs": [_run_row("20261123T040300Z-a1", commit, dirty)]}, 200)
    assert [line for line in lines if line.startswith("(") and "change:" in line] == [footnote]
    assert ("*" in lines[2]) is bool(dirty)


def test_removed_tests_are_listed_in_number_order(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        test_slow="""
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.parametrize("n", [10, 2, 11, 3])
        def test_slow(token_tracker, n):
            token_tracker.record(usage=Usage(input=n, output=1), model="gpt-4o")
        """
    )
    plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)
    (plugin_pytester.path / "test_slow.py").unlink()
    plugin_pytester.makepyfile(test_b="def test_new(token_tracker):\n    pass\n")
    result = plugin_pytester.runpytest("-p", "no:cacheprovider", "--cost-compare")
    names = "test_slow.py::test_slow"
    result.stdout.fnmatch_lines(
        [f"Removed tests: {names}[[]2], {names}[[]3], {names}[[]10], {names}[[]11]"]
    )
