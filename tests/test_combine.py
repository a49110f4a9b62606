"""`tokencost combine`: sharded runs add up to one unsharded run, nothing lost or counted twice."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

TOKENCOST = str(Path(sys.executable).with_name("tokencost"))

# Three test files, one shard each (as pytest-split or a CI matrix would cut the suite).
FILES = {
    "test_one": """
from pytest_tokencost import Usage

def test_gpt(token_tracker):
    with token_tracker.step("draft"):
        token_tracker.record(model="gpt-4o", provider="openai",
                             usage=Usage(input=12_000, output=3_400, cache_read=2_000))

def test_unknown(token_tracker):
    token_tracker.record(step="draft", model="in-house-7b", usage=Usage(input=100, output=10))
""",
    "test_two": """
from pytest_tokencost import Usage

def test_claude(token_tracker):
    with token_tracker.case("c1"), token_tracker.step("review"):
        token_tracker.record(model="claude-sonnet-4", provider="anthropic",
                             usage=Usage(input=20_000, output=1_000, cache_write=5_000))
""",
    "test_three": """
from pytest_tokencost import Usage

def test_local(token_tracker):
    token_tracker.record(step="act", prompt="x" * 4000, artifact="y" * 400)

def test_nothing():
    pass
""",
}


@pytest.fixture
def project(plugin_pytester: pytest.Pytester) -> pytest.Pytester:
    plugin_pytester.makepyfile(**FILES)
    return plugin_pytester


def _run(pytester: pytest.Pytester, out: str, *args: str) -> dict:  # type: ignore[type-arg]
    result = pytester.runpytest("-p", "no:randomly", f"--cost-dir={out}", *args)
    assert result.ret == 0, result.stdout.str()
    return json.loads((pytester.path / out / "token-report.json").read_text())


def _combine(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.run(TOKENCOST, "combine", *args)


def _without_wall(summary: dict) -> dict:  # type: ignore[type-arg]
    """A summary without wall clocks (timings differ between any two runs)."""
    text = json.dumps(summary)
    data = json.loads(text)

    def strip(totals: dict) -> None:  # type: ignore[type-arg]
        totals.pop("wall_ms", None)

    strip(data["totals"])
    for group in ("by_test", "by_case", "by_step", "by_model"):
        for totals in data[group].values():
            strip(totals)
    return data


@pytest.mark.parametrize("shards", [2, 3])
@pytest.mark.parametrize("workers", ["0", "2"])
def test_combined_shards_equal_one_unsharded_run(
    project: pytest.Pytester, shards: int, workers: str
) -> None:
    whole = _run(project, "whole", "-n", workers)
    files = [f"{name}.py" for name in FILES]
    groups = [files[:1], files[1:]] if shards == 2 else [[f] for f in files]
    outs = []
    for index, group in enumerate(groups):
        _run(project, f"shard{index}", "-n", workers, *group)
        outs.append(f"shard{index}")
    result = _combine(project, *outs, "--out", "combined")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines([f"Combined {shards} run(s), 4 records, into combined"])
    combined = json.loads((project.path / "combined" / "token-report.json").read_text())
    assert _without_wall(combined["summary"]) == _without_wall(whole["summary"])
    assert combined["summary"]["totals"]["records"] == 4
    shard_ids = [
        json.loads((project.path / out / "token-report.json").read_text())["run"]["run_id"]
        for out in outs
    ]
    assert sorted(combined["run"]["combined_from"]) == sorted(shard_ids)
    # records.jsonl: every shard's records, each once, beside the report and in its run folder
    lines = (project.path / "combined" / "records.jsonl").read_text().splitlines()
    keys = sorted((r["run_id"], r["test_id"], r["seq"]) for r in map(json.loads, lines))
    assert len(keys) == len(set(keys)) == 4
    run_folder = project.path / "combined" / "runs" / combined["run"]["run_id"]
    assert (run_folder / "records.jsonl").read_text().splitlines() == lines
    # The report reads back, and the CLI shows its totals.
    again = project.run(TOKENCOST, "report", "combined")
    again.stdout.fnmatch_lines(["Total: * tokens *"])


def test_a_shard_given_twice_is_refused(project: pytest.Pytester) -> None:
    _run(project, "a", "test_one.py")
    _run(project, "b", "test_two.py")
    shutil.copytree(project.path / "a", project.path / "a-copy")
    for args in (["a", "b", "a"], ["a", "a-copy", "b"]):
        result = _combine(project, *args, "--out", "combined")
        assert result.ret == 2
        result.stderr.fnmatch_lines(
            [
                "tokencost: error: refusing to count records twice: run * test test_one.py::* "
                "attempt 1 is in both a and a*; give each shard's output folder once"
            ]
        )
        assert not (project.path / "combined").exists()  # nothing written
    result = _combine(project, "a", "b", "--out", "a")
    assert result.ret == 2
    result.stderr.fnmatch_lines(["*--out a is one of the inputs*"])
    (project.path / "afile").write_text("")
    result = _combine(project, "a", "b", "--out", "afile")
    assert result.ret == 2
    result.stderr.fnmatch_lines(["tokencost: error: --out */afile is not a folder*"])


def test_an_unreadable_input_is_named_and_kept(project: pytest.Pytester) -> None:
    _run(project, "a", "test_one.py")
    _run(project, "b", "test_two.py")
    _run(project, "c", "test_three.py")
    # b's records were torn (a killed writer); c's report is not JSON.
    records = project.path / "b" / "records.jsonl"
    torn = records.read_text()[:-40]
    records.write_text(torn)
    (project.path / "c" / "token-report.json").write_text('{"schema_version": 3, "run"')
    result = _combine(project, "a", "b", "c", "--out", "combined")
    assert result.ret == 2
    result.stderr.fnmatch_lines(
        [
            "tokencost: error: left out, unreadable: b: *records.jsonl line 1 is not a record*",
            "tokencost: error: left out, unreadable: c: report *token-report.json is not JSON*",
            "tokencost: error: 2 input(s) could not be read and are not in the combined "
            "report (nothing was deleted)",
        ]
    )
    combined = json.loads((project.path / "combined" / "token-report.json").read_text())
    assert combined["summary"]["totals"]["records"] == 2  # a's two records
    assert any(w.startswith("left out, unreadable: b:") for w in combined["warnings"])
    assert records.read_text() == torn  # inputs are never changed or deleted
    assert (project.path / "c" / "token-report.json").exists()
    missing = _combine(project, "a", "nowhere", "--out", "other")
    assert missing.ret == 2
    missing.stderr.fnmatch_lines(["tokencost: error: no such file or folder: nowhere"])
