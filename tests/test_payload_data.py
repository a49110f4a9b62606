"""A payload made in the collecting process (no xdist) is taken back as made, without being
validated a second time; a payload that travelled (xdist) is still validated, and a bad one
becomes a warning, never a crash."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from unittest.mock import patch

from pytest_tokencost import InMemoryTokenTracker, Usage
from pytest_tokencost.budget import BudgetScope, Channel
from pytest_tokencost.collect import Collector
from pytest_tokencost.payload import export_tracker
from pytest_tokencost.records import Provenance, TokenRecord
from pytest_tokencost.session import RunState
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


def test_a_payload_made_here_is_taken_as_made_and_a_travelled_one_is_validated() -> None:
    collected: list[list[TokenRecord]] = []
    collector = Collector(collected.append)
    payload = export_tracker(_tracker())
    data = payload.model_dump(mode="json")
    collector.expect(data, payload)
    with patch("pytest_tokencost.payload.read_payload", side_effect=AssertionError("validated")):
        assert collector.add_data(data, "here") is payload
    assert collected[-1] == payload.records

    # The same payload as it arrives from an xdist worker: a new object, validated.
    travelled = copy.deepcopy(data)
    travelled["attempt"] = 3
    taken = collector.add_data(travelled, "a worker")
    assert taken is not None and taken.records == payload.records
    assert taken is not payload

    broken = copy.deepcopy(data)
    broken["attempt"] = 4
    broken["records"][0]["usage"]["input"] = -1
    assert collector.add_data(broken, "t.py::test_broken") is None
    assert "the records of t.py::test_broken could not be read" in collector.warnings[-1]
    assert len(collector.records) == 12


def test_the_run_states_export_is_collected_once_and_appended(tmp_path: Path) -> None:
    folder = tmp_path
    state = RunState(Settings(output_dir=folder / ".tokencost"), argv=[], pytest_version="x")
    tracker = state.new_tracker("t.py::test_one")
    tracker.record(model="gpt-4o", usage=Usage(input=10, output=2))
    data = state.export_data(tracker)
    assert state.collector is not None
    assert state.collector.add_data(data, "t.py::test_one") is not None
    state.finish(0)
    lines = (folder / ".tokencost" / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == data["records"]
    assert state.collector.add_data(data, "t.py::test_one") is not None  # again: refused
    assert "arrived twice" in state.warnings[-1] and len(state.records) == 1
    assert [TokenRecord.model_validate_json(line) for line in lines] == state.records
