"""A payload made in the collecting process (no xdist) is taken back as made, without being
validated a second time; a payload that travelled (xdist) is still validated, and a bad one
becomes a warning, never a crash."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

from pytest_tokencost import InMemoryTokenTracker, Usage
from pytest_tokencost.budget import BudgetScope, Channel
from pytest_tokencost.collect import Collector
from pytest_tokencost.payload import export_data
from pytest_tokencost.payload_model import TestPayload
from pytest_tokencost.records import Provenance, TokenRecord
from pytest_tokencost.session import RunState, record_line
from pytest_tokencost.settings import Settings


def _tracker() -> InMemoryTokenTracker:
    """Records of every shape a test makes: priced, unpriced, default rate, counted texts,
    every optional usage part, identity, reported figures, a whole-number wall clock."""
    tracker = InMemoryTokenTracker(
        test_id="t.py::test_shapes[é]",
        run_id="run-1",
        attempt=2,
        budget=BudgetScope("test t", {Channel.TOKENS: 10**9}),
    )
    tracker.record(model="gpt-4o", usage=Usage(input=1_200, output=80))
    with tracker.case("c-1", scenario="ptp"), tracker.step("triage"):
        tracker.record(
            model="claude-sonnet-4-5",
            provider="anthropic",
            usage=Usage(
                input=300_000,
                output=900,
                cache_read=100,
                cache_write=50,
                cache_write_1h=20,
                reasoning=30,
                web_searches=2,
            ),
            response_id="msg_01",
            request_id="req_01",
            reported_cost_micro_usd=12,
            reported_total_tokens=300_901,
            wall_ms=12,
        )
        tracker.record(model="no-such-model-xyz", usage=Usage(input=5, output=1), partial=True)
    tracker.record(prompt="hello there", artifact="general kenobi", wall_ms=0.00001)
    tracker.record(
        model="gpt-4o", usage=Usage(input=7, output=3), provenance=Provenance.ESTIMATED, step="x"
    )
    tracker.record(model="gpt-4o", usage=Usage(input=9, output=1), case="c-0", step="a", late=True)
    return tracker


def test_the_plain_export_is_what_the_models_write() -> None:
    """The teardown builds a test's payload without pydantic: the documents are exactly what
    the models dump, and each records.jsonl line reads back as what `model_dump_json` writes
    (a tiny float may be spelled 1e-05 rather than 0.00001)."""
    tracker = _tracker()
    data = export_data(tracker)
    from_models = TestPayload(
        test_id=tracker.test_id or "",
        attempt=tracker.attempt,
        records=tracker.records(),
        runs=tracker.scope_runs(),
        budgets=TestPayload.model_validate(data).budgets,
    )
    assert from_models.model_dump(mode="json") == data
    assert TestPayload.model_validate(data).model_dump(mode="json") == data
    assert data["budgets"][0]["channel"] == "tokens" and data["budgets"][0]["status"] == "ok"
    for document, record in zip(data["records"], tracker.records(), strict=True):
        assert json.loads(record_line(document)) == json.loads(record.model_dump_json())
    interrupted = export_data(tracker, interrupted=True)
    assert interrupted["interrupted"] and all(r["interrupted"] for r in interrupted["records"])


def test_a_payload_made_here_is_taken_as_made_and_a_travelled_one_is_validated() -> None:
    collected: list[list[Any]] = []
    collector = Collector(collected.append)
    tracker = _tracker()
    data = export_data(tracker)
    collector.expect(data)
    with patch("pytest_tokencost.payload.read_payload", side_effect=AssertionError("validated")):
        assert collector.add_data(data, "here")
    assert collected[-1] is data["records"]  # the documents themselves, not copies

    # The same payload as it arrives from an xdist worker: a new object, validated.
    travelled = copy.deepcopy(data)
    travelled["attempt"] = 3
    assert collector.add_data(travelled, "a worker")
    assert all(isinstance(record, TokenRecord) for record in collected[-1])

    broken = copy.deepcopy(data)
    broken["attempt"] = 4
    broken["records"][0]["usage"]["input"] = -1
    assert not collector.add_data(broken, "t.py::test_broken")
    assert "the records of t.py::test_broken could not be read" in collector.warnings[-1]
    assert len(collector.records) == 12
    assert collector.records[:6] == tracker.records()
    assert collector.records[6:] == tracker.records()


def test_the_run_states_export_is_collected_once_and_appended(tmp_path: Path) -> None:
    folder = tmp_path
    state = RunState(Settings(output_dir=folder / ".tokencost"), argv=[], pytest_version="x")
    tracker = state.new_tracker("t.py::test_one")
    tracker.record(model="gpt-4o", usage=Usage(input=10, output=2))
    data = state.export_data(tracker)
    assert state.collector is not None
    assert state.collector.add_data(data, "t.py::test_one")
    state.finish(0)
    lines = (folder / ".tokencost" / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == data["records"]
    assert state.collector.add_data(data, "t.py::test_one")  # again: refused
    assert "arrived twice" in state.warnings[-1] and len(state.records) == 1
    assert [TokenRecord.model_validate_json(line) for line in lines] == state.records
