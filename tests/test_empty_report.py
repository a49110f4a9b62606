"""A run that recorded nothing prints its section and writes its report without importing
pydantic, the report models, pricing or genai-prices; the document is the one the models
would write, valid against the committed JSON Schema, and `tokencost report` reads it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from pydantic import TypeAdapter

from pytest_tokencost.empty_report import (
    NO_TOKENS,
    SCHEMA_VERSION,
    describe_rate,
    iso_datetime,
)
from pytest_tokencost.history import (
    CalibrationRow,
    entry_from_empty_document,
    entry_from_report,
    read_runs,
)
from pytest_tokencost.pricing import Rate
from pytest_tokencost.render import render_report
from pytest_tokencost.report import SCHEMA_VERSION as MODEL_SCHEMA_VERSION
from pytest_tokencost.report import Baseline, GateVerdict, TokenReport
from pytest_tokencost.session import RunState
from pytest_tokencost.settings import ReportTarget, Settings

SCHEMA = Path(__file__).resolve().parents[1] / "pytest_tokencost" / "schema"
HEAVY = (
    "pydantic",
    "genai_prices",
    "tabulate",
    "pytest_tokencost.pricing",
    "pytest_tokencost.report.document",
    "pytest_tokencost.records",
    "pytest_tokencost.summary",
    "pytest_tokencost.budget",
)

# Written when the run is over (after the terminal summary and the report): which modules
# the run imported.
CONFTEST = """
import json
import sys

def pytest_unconfigure(config):
    with open("imported.json", "w") as handle:
        json.dump(sorted(sys.modules), handle)
"""


def _schema() -> dict[str, object]:
    (path,) = SCHEMA.glob("token-report*.json")
    loaded: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("args", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_an_empty_run_writes_a_valid_report_without_the_heavy_modules(
    plugin_pytester: pytest.Pytester, args: tuple[str, ...]
) -> None:
    plugin_pytester.makeconftest(CONFTEST)
    plugin_pytester.makepyfile(test_quiet="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = plugin_pytester.runpytest_subprocess("--cost-report", "-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*= Token & Cost =*", NO_TOKENS])
    imported = set(json.loads((plugin_pytester.path / "imported.json").read_text()))
    assert [name for name in HEAVY if name in imported] == []

    path = plugin_pytester.path / ".tokencost" / "token-report.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(document, _schema())
    # exactly what the models write for the same values
    assert TokenReport.model_validate(document).model_dump(mode="json") == document
    assert document["run"]["status"] == "passed"
    assert document["summary"]["totals"]["records"] == 0
    shown = plugin_pytester.run(sys.executable, "-m", "pytest_tokencost.cli", "report", path)
    assert shown.ret == 0
    shown.stdout.fnmatch_lines(["*Token & Cost*", "Run *", NO_TOKENS])
    # the run is in the history too (on by default), written without the models as well
    (row,) = read_runs(plugin_pytester.path / ".tokencost")
    assert (row.run_id, row.status, row.tests, row.totals.records) == (
        document["run"]["run_id"],
        "passed",
        0,
        0,
    )


# Each process writes its own list when it is done: the main one after its report and section,
# an xdist worker at the end of its session (its controller may be gone before it unconfigures).
CONFTEST_RECORDING = """
import json
import sys


def _dump(name):
    with open(f"imported-{name}.json", "w") as handle:
        json.dump(sorted(sys.modules), handle)


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        _dump(session.config.workerinput["workerid"])


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        _dump("main")
"""
RECORDING_TEST = """
from pytest_tokencost import Usage


def test_asks(token_tracker):
    token_tracker.record(model="gpt-4o", usage=Usage(input=1_200, output=80))
"""
# What a run that records one priced record, and prints no section, has no use for: the
# price data (once price-cache.json knows the model), the tokenizers, the section, the
# Markdown / GitHub outputs, the HTML page, capture, and xdist's hooks in a serial run.
UNUSED_BY_A_SMALL_RUN = (
    "genai_prices",
    "tiktoken",
    "pytest_tokencost.report.render",
    "pytest_tokencost.report.ci",
    "pytest_tokencost.html",
    "pytest_tokencost.capture_all",
    "pytest_tokencost.counting",
)


def _imported(folder: Path) -> dict[str, set[str]]:
    found = {
        path.stem.removeprefix("imported-"): set(json.loads(path.read_text()))
        for path in folder.glob("imported-*.json")
    }
    for path in folder.glob("imported-*.json"):
        path.unlink()
    return found


@pytest.mark.parametrize("args", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_small_recording_run_imports_only_what_it_uses(
    plugin_pytester: pytest.Pytester, args: tuple[str, ...]
) -> None:
    plugin_pytester.makeconftest(CONFTEST_RECORDING)
    plugin_pytester.makepyfile(test_small=RECORDING_TEST)
    # genai-prices answers the first runs; price-cache.json keeps its answer once the output
    # folder exists (the first run creates it only when its records are written)
    for _ in range(2):
        plugin_pytester.runpytest_subprocess("-p", "no:cacheprovider", *args).assert_outcomes(
            passed=1
        )
    _imported(plugin_pytester.path)

    result = plugin_pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1)
    imported = _imported(plugin_pytester.path)
    assert sorted(imported) == (["gw0", "gw1", "main"] if args else ["main"])
    for process, modules in imported.items():
        unused = [name for name in UNUSED_BY_A_SMALL_RUN if name in modules]
        assert unused == [], process
    assert ("pytest_tokencost.xdist_hooks" in imported["main"]) == bool(args)
    # it did record, price and write: what it imported it used
    lines = (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    (record,) = [json.loads(line) for line in lines]
    assert (record["cost_micro_usd"], record["price_source"]) == (3_800, "genai-prices")

    # the section asked for, its module comes in, and nothing else of the list
    shown = plugin_pytester.runpytest_subprocess("-p", "no:cacheprovider", "--cost-report", *args)
    shown.assert_outcomes(passed=1)
    modules = _imported(plugin_pytester.path)["main"]
    assert [name for name in UNUSED_BY_A_SMALL_RUN if name in modules] == [
        "pytest_tokencost.report.render"
    ]


def _state(tmp_path: Path, **settings: object) -> RunState:
    return RunState(
        Settings(output_dir=tmp_path / ".tokencost", **settings),  # type: ignore[arg-type]
        argv=["-q", "--cost-report", "--api-key=sk-abcdefghijklmnopqrstuvwx"],
        pytest_version="9.9.9",
        workers=2,
    )


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"default_rate": "2.5, 10", "default_rate_for_unknown": True},
        {"prices_file": Path("prices.toml"), "strict": True},
    ],
    ids=["defaults", "rate", "overrides"],
)
@pytest.mark.parametrize("exit_status", [0, 1, 2, 5, None])
def test_the_empty_document_is_the_models_document(
    tmp_path: Path, settings: dict[str, object], exit_status: int | None
) -> None:
    """Same keys and values as `build_report` for the same run, warnings, interrupted tests,
    duplicates and a secret in argv included (the finish time and wall clock differ)."""
    state = _state(tmp_path, **settings)
    collector = state.collector
    assert collector is not None
    collector.warnings += ["a payload could not be read: token sk-abcdefghijklmnopqrstuvwx", "x"]
    collector.interrupted_tests.append("t.py::test_running")
    collector.duplicates = 3
    assert state.write_report(exit_status)
    written = json.loads((tmp_path / ".tokencost" / "token-report.json").read_text())
    built = state.build_report(exit_status).model_dump(mode="json")
    for document in (written, built):
        del document["run"]["finished"], document["run"]["wall_s"]
    assert written == built
    assert "sk-abcdefghijklmnopqrstuvwx" not in json.dumps(written)
    assert state.section_lines() == [NO_TOKENS]
    report = state.report  # the model, made on first use from the document
    assert report is not None and render_report(report) == [NO_TOKENS]
    jsonschema.validate(report.model_dump(mode="json"), _schema())


def test_a_run_with_a_step_or_a_budget_is_not_empty(tmp_path: Path) -> None:
    """Scope runs and budgets are in the report: such a run takes the models' path."""
    state = _state(tmp_path, reports=(ReportTarget("term"),))
    tracker = state.new_tracker("t.py::test_steps")
    with tracker.step("plan"):
        pass
    state.add(state.export_data(tracker))
    assert state.write_report(0)
    assert state.section_lines() == [NO_TOKENS]
    report = state.report
    assert report is not None and report.summary.totals.steps == 1


@pytest.mark.parametrize("text", ["3,15", "2.5, 10", "0,0", "0.150,0.60", "1.0e2,3"])
def test_the_rate_is_described_as_the_model_describes_it(text: str) -> None:
    assert describe_rate(text) == Rate.parse(text).describe()


def test_the_schema_version_is_the_models() -> None:
    assert SCHEMA_VERSION == MODEL_SCHEMA_VERSION


@pytest.mark.parametrize("microsecond", [0, 5, 999_999])
def test_datetimes_are_written_as_pydantic_writes_them(microsecond: int) -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, microsecond, tzinfo=UTC)
    assert iso_datetime(moment) == TypeAdapter(datetime).dump_python(moment, mode="json")


@pytest.mark.parametrize("compared", [False, True], ids=["plain", "baseline-and-gate"])
def test_the_history_entry_of_an_empty_run_is_the_models_entry(
    tmp_path: Path, compared: bool
) -> None:
    """The history row of a run that recorded nothing, made from its plain document, equals
    the one made from the report model (baseline, gate verdicts and calibration included)."""
    state = _state(tmp_path, reports=(ReportTarget("json"),))
    if compared:
        state.baseline = Baseline(
            ref="auto",
            run_id="20260101T000000-abcd",
            source="history",
            started=datetime(2026, 1, 1, tzinfo=UTC),
            git_branch="main",
            git_commit="0123456789abcdef",
        )
        state.gates = [
            GateVerdict(
                gate="--cost-compare-fail=tokens:10%",
                metric="tokens",
                status="pass",
                base=1_000,
                head=0,
                limit="10%",
                message="tokens 0 vs 1,000 (-100.0%), limit +10%",
            )
        ]
    assert state.write_report(0)
    document = state.empty_report
    assert document is not None
    calibration = [CalibrationRow("ptp-mock", 4, 3, 0.75, 1_200, "estimated")] if compared else []
    arguments = {
        "git": ("0123abc", "main", False),
        "override_sha256": None,
        "default_rate": "3,15",
        "calibration": calibration,
    }
    plain = entry_from_empty_document(document, **arguments)  # type: ignore[arg-type]
    report = state.report
    assert report is not None
    assert plain == entry_from_report(report, **arguments)  # type: ignore[arg-type]
    assert plain.row.baseline_run_id == ("20260101T000000-abcd" if compared else None)
