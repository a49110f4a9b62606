"""`tokencost ingest` builds its report without pydantic: its documents and its printed section
are the ones the models give.

The oracle is the path `tokencost ingest` took before (kept here as `_model_path`): records
as `TokenRecord`s priced by `Pricer`, the summary by `TokenSummary.from_records`, the report
by `RunState.build_report`, the section by `render.render_lines`. Both run on the same
corpus-shaped transcripts: the corpus sessions and rollouts, a `claude --resume` copy, a Codex
fork, a file given twice, zero-usage `<synthetic>` lines, a torn last line, a response with
web searches and a reported cost that disagrees, a model nobody prices, and a Codex rollout
whose model is never named (priced at the default rate). Documents are compared field by
field, and validated against the published JSON Schema.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_tokencost import cli, plain_summary, record_builder
from pytest_tokencost.records import MAX_COUNT, PriceSource, Provenance, TokenRecord, Usage
from pytest_tokencost.render import TITLE, render_lines
from pytest_tokencost.report import TokenReport
from pytest_tokencost.session import RunState
from pytest_tokencost.settings import Settings
from pytest_tokencost.summary import NO_MODEL, NO_STEP, OUTSIDE_TESTS
from pytest_tokencost.transcripts import provider_of, read_transcripts, response_ids
from tests.test_transcripts_once import SYNTHETIC, _fork, _line, _resumed_copy

SCHEMA = Path(__file__).parents[1] / "pytest_tokencost" / "schema" / "token-report.schema.json"
LABELS = {"test": "session", "case": "day", "step": "source"}
#: Fields that differ between any two runs (when, how long, which command).
PER_RUN = ("run_id", "started", "finished", "wall_s", "argv")


def _extra_claude(folder: Path) -> Path:
    """Claude Code lines the corpus lacks: web searches with a reported cost that disagrees
    with genai-prices, a model no price source knows, a synthetic API-error line, and a torn
    last line (the file still being written)."""
    searches = json.loads(_line("m-search", input_tokens=1_200, output_tokens=300))
    searches["message"]["usage"]["server_tool_use"] = {"web_search_requests": 2}
    searches["costUSD"] = 0.5
    unknown = json.loads(_line("m-unknown", input_tokens=70, output_tokens=7))
    unknown["message"]["model"] = "claude-nobody-knows-9"
    lines = [json.dumps(searches), json.dumps(SYNTHETIC), json.dumps(unknown)]
    torn = _line("m-torn", input_tokens=5, output_tokens=1)
    path = folder / "extra.jsonl"
    path.write_text("\n".join(lines) + "\n" + torn[: len(torn) // 2])
    return path


def _modelless_codex(folder: Path) -> Path:
    """A Codex rollout whose turns come before any turn_context names the model."""
    totals = {"input_tokens": 900, "cached_input_tokens": 100, "output_tokens": 40}
    line = {
        "timestamp": "2026-02-23T10:00:00.000Z",
        "type": "event_msg",
        "payload": {"type": "token_count", "info": {"total_token_usage": totals}},
    }
    meta = {
        "timestamp": "2026-02-23T09:59:00.000Z",
        "type": "session_meta",
        "payload": {"id": "s-x"},
    }
    path = folder / "rollout-modelless.jsonl"
    path.write_text(json.dumps(meta) + "\n" + json.dumps(line) + "\n")
    return path


@pytest.fixture
def inputs(corpus: Path, tmp_path: Path) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    _resumed_copy(corpus, folder)
    _fork(corpus, folder)
    return [
        corpus / "claude-code",
        corpus / "codex",
        corpus / "claude-code" / "spotter__short.jsonl",  # read once more: counted once
        folder,
        _extra_claude(tmp_path),
        _modelless_codex(tmp_path),
    ]


def _model_path(paths: list[Path], out: Path, width: int) -> tuple[TokenReport, list[str]]:
    """What `tokencost ingest` did before it went without pydantic (the models' answer)."""
    transcripts = read_transcripts(paths)
    state = RunState(
        Settings(output_dir=out), argv=["tokencost"], pytest_version="(not run under pytest)"
    )
    pricer = state.pricer()
    records = []
    for seq, response in enumerate(transcripts.responses):
        when = response.timestamp or datetime.now(UTC)
        provider = provider_of(response)
        price = pricer.price(response.model, provider, response.usage, when)
        records.append(
            TokenRecord(
                seq=seq,
                test_id=f"{response.source}:{response.session}",
                case_id=response.timestamp.date().isoformat() if response.timestamp else None,
                step=f"{response.source} (subagent)" if response.sidechain else response.source,
                provider=provider,
                model=response.model,
                usage=response.usage,
                provenance=Provenance.REPORTED,
                timestamp=when,
                **price.record_fields(),
                reported_cost_micro_usd=response.reported_cost_micro_usd,
                response_id=response_ids(response)[0],
                request_id=response_ids(response)[1],
                run_id=state.run_id,
            )
        )
    state.add_records(records)
    state.warnings.extend(transcripts.problems)
    if transcripts.skipped_synthetic:
        state.warnings.append(
            f"{transcripts.skipped_synthetic} zero-usage <synthetic> line(s) skipped (API errors "
            "Claude Code logged; no request was billed)"
        )
    if transcripts.repeated_responses:
        state.warnings.append(
            f"{transcripts.repeated_responses} response(s) met again in another file (resumed "
            "sessions copy earlier responses) counted once"
        )
    if transcripts.repeated_files:
        state.warnings.append(
            f"{transcripts.repeated_files} file(s) given more than once read once"
        )
    report = state.build_report(0)
    return report, [
        text for text, _ in render_lines(report, labels=LABELS, width=width, transcripts=True)
    ]


def _without_run(report: dict[str, Any]) -> dict[str, Any]:
    report = json.loads(json.dumps(report))
    for field in PER_RUN:
        del report["run"][field]
    return report


def _ingest(paths: list[Path], out: Path) -> tuple[int, list[str], str]:
    printed, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
        status = cli.main(["ingest", *map(str, paths), "--out", str(out)])
    return status, printed.getvalue().splitlines(), errors.getvalue()


def test_ingest_writes_and_prints_what_the_models_give(
    inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    out = tmp_path / "out"
    status, printed, errors = _ingest(inputs, out)
    assert status == 2  # the torn last line: listed, and the report is incomplete
    assert "torn last line" in errors
    expected, expected_lines = _model_path(inputs, tmp_path / "oracle", 100)
    # records.jsonl: field by field what the model dumps (the run id aside: another run).
    lines = (out / "records.jsonl").read_text(encoding="utf-8").splitlines()
    documents = [json.loads(line) for line in lines]
    assert len(documents) == expected.summary.totals.records
    report = json.loads((out / "token-report.json").read_text(encoding="utf-8"))
    for document in documents:
        assert document["run_id"] == report["run"]["run_id"]
        # Valid as a record, and written as the model writes itself.
        assert TokenRecord.model_validate(document).model_dump(mode="json") == document
    # token-report.json: every field as the models build it, but for the run's own.
    jsonschema.validate(report, json.loads(SCHEMA.read_text(encoding="utf-8")))
    want = _without_run(expected.model_dump(mode="json"))
    got = _without_run(report)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key], key
    assert TokenReport.model_validate(report).model_dump(mode="json") == report
    # The shapes that matter here are all in it.
    totals = report["summary"]["totals"]["records_by_price_source"]
    assert totals.keys() == {"genai-prices", "default-rate", "not-recorded"}
    assert report["cost_checks"] and not report["cost_checks"][0]["agrees"]
    assert report["summary"]["totals"]["usage"]["web_searches"] == 2
    assert any("met again in another file" in w for w in report["warnings"])
    assert any("given more than once" in w for w in report["warnings"])
    assert any("<synthetic>" in w for w in report["warnings"])
    # The section, line by line (the wall clock is each run's own).
    assert printed[0] == f" {TITLE} ".center(100, "=")
    assert printed[1] == f"{len(documents)} responses from {len(inputs)} path(s); report in {out}"
    body = [line for line in printed[2:] if not line.startswith("Wall clock:")]
    assert body == [line for line in expected_lines if not line.startswith("Wall clock:")]
    # The model nobody prices: the input and output lines say what their dollars leave out.
    for label in ("Total prompts:", "Total artifacts:", "Total:"):
        (line,) = [line for line in body if line.startswith(label)]
        assert line.endswith(" + 1 not recorded)"), line


def test_records_match_the_models_one_by_one(inputs: list[Path], tmp_path: Path) -> None:
    """Each record line is the model's record of the same response, field by field."""
    out = tmp_path / "out"
    _ingest(inputs, out)
    lines = (out / "records.jsonl").read_text(encoding="utf-8").splitlines()
    documents = [json.loads(line) for line in lines]
    transcripts = read_transcripts(inputs)
    assert len(documents) == len(transcripts.responses)
    state = RunState(Settings(output_dir=tmp_path / "o2"), argv=[], pytest_version="-")
    pricer = state.pricer()
    for document, response in zip(documents, transcripts.responses, strict=True):
        when = response.timestamp or datetime.now(UTC)
        price = pricer.price(response.model, provider_of(response), response.usage, when)
        fields = record_builder.transcript_fields(
            response, seq=document["seq"], price=price, timestamp=when, run_id="r"
        )
        want = TokenRecord(**fields).model_dump(mode="json")
        got = dict(document, run_id="r")
        for key in ("test_id", "case_id", "step"):
            got[key] = want[key]  # placed by ingest (session, day, source): checked above
        if response.timestamp is None:
            got["timestamp"] = want["timestamp"]  # read "now": a moment apart
        assert got == want


def test_an_ingest_imports_no_pydantic(corpus: Path, tmp_path: Path) -> None:
    """With its models in the output folder's price cache, an ingest imports neither pydantic,
    nor the report models, nor genai-prices, nor importlib.metadata (`versions`)."""
    out = tmp_path / "out"
    path = str(corpus / "claude-code" / "spotter__tool_heavy.jsonl")
    probe = (
        "import sys\nfrom pytest_tokencost.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "loaded = [m for m in ('pydantic', 'genai_prices', 'pytest_tokencost.records',"
        " 'pytest_tokencost.report.document', 'pytest_tokencost.summary', 'tabulate',"
        " 'importlib.metadata')"
        " if m in sys.modules]\n"
        "print('LOADED', loaded)\nsys.exit(status)\n"
    )
    argv = [sys.executable, "-c", probe, "ingest", path, "--out", str(out)]
    subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)  # the cache
    run = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    assert "LOADED []" in run.stdout, run.stdout


def test_nothing_but_skipped_lines_prints_and_writes_as_the_models_do(tmp_path: Path) -> None:
    path = tmp_path / "only-synthetic.jsonl"
    path.write_text(json.dumps(SYNTHETIC) + "\n")
    status, printed, _ = _ingest([path], tmp_path / "out")
    assert status == 0
    assert printed[1:] == [
        "0 responses from 1 path(s); report in " + str(tmp_path / "out"),
        "No tokens recorded.",
    ]
    report = json.loads((tmp_path / "out" / "token-report.json").read_text(encoding="utf-8"))
    assert report["summary"]["totals"]["records"] == 0
    assert report["warnings"] == [
        "1 zero-usage <synthetic> line(s) skipped (API errors Claude Code logged; no request "
        "was billed)"
    ]
    assert not (tmp_path / "out" / "records.jsonl").read_text(encoding="utf-8")


def test_plain_usage_checks_as_the_model_does() -> None:
    assert record_builder.MAX_COUNT == MAX_COUNT
    good = record_builder.PlainUsage(input=10, output=5, cache_read=4, cache_write=6)
    assert record_builder.usage_document(good) == Usage(
        input=10, output=5, cache_read=4, cache_write=6
    ).model_dump(mode="json")
    assert good.total == 15
    for counts in (
        {"input": 3, "output": 1, "cache_read": 2, "cache_write": 2},
        {"input": 3, "output": 1, "reasoning": 2},
        {"input": 3, "output": 1, "cache_write": 1, "cache_write_1h": 2},
        {"input": -1},
        {"input": MAX_COUNT + 1},
        {"input": True},
    ):
        with pytest.raises(ValueError) as plain:
            record_builder.PlainUsage(**counts)
        with pytest.raises(ValueError) as model:
            Usage(**counts)
        assert str(plain.value) == str(model.value)


def test_plain_constants_are_the_models() -> None:
    assert [s.value for s in plain_summary.PriceSourceName] == [s.value for s in PriceSource]
    assert list(plain_summary.PROVENANCES) == [p.value for p in Provenance]
    assert (plain_summary.NO_MODEL, plain_summary.NO_STEP, plain_summary.OUTSIDE_TESTS) == (
        NO_MODEL,
        NO_STEP,
        OUTSIDE_TESTS,
    )
    fields = list(TokenRecord.model_fields)
    assert list(record_builder._RECORD_DEFAULTS) == fields
    for name, info in TokenRecord.model_fields.items():
        if not info.is_required():
            assert record_builder._RECORD_DEFAULTS[name] == info.default, name
