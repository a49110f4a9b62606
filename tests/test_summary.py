"""Summaries: exact totals, breakdowns that add up, and merging by addition."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tokencost import PriceSource, Provenance, TokenRecord, TokenSummary, Usage
from pytest_tokencost.records import ScopeRun

from .test_usage import usages

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
# The genai-prices entries these names are priced as (one model id per name, as in a run).
PRICED_AS = {"gpt-4o": "openai:gpt-4o", "claude-sonnet-4": "anthropic:claude-sonnet-4-0"}


@st.composite
def records(draw: st.DrawFn) -> TokenRecord:
    usage = draw(usages())
    priced = draw(st.booleans())
    cost = draw(st.integers(0, 10**9)) if priced else None
    input_cost = draw(st.integers(0, cost)) if cost is not None else None
    model = draw(st.sampled_from(["gpt-4o", "claude-sonnet-4", "mystery", None]))
    source = draw(st.sampled_from([PriceSource.GENAI_PRICES, PriceSource.DEFAULT_RATE]))
    return TokenRecord(
        seq=draw(st.integers(0, 100)),
        test_id=draw(st.sampled_from(["t::a", "t::b", None])),
        case_id=draw(st.sampled_from(["c1", "c2", None])),
        step=draw(st.sampled_from(["recall", "triage", None])),
        model=model,
        usage=usage,
        provenance=draw(st.sampled_from(list(Provenance))),
        timestamp=WHEN,
        cost_micro_usd=cost,
        input_cost_micro_usd=input_cost,
        output_cost_micro_usd=None if cost is None else cost - (input_cost or 0),
        price_source=source if priced else PriceSource.NOT_RECORDED,
        priced_as=PRICED_AS.get(model or "")
        if priced and source is PriceSource.GENAI_PRICES
        else None,
        # a cassette replay: its cost is recorded cost, apart from the money spent
        replayed=draw(st.booleans()),
    )


runs = st.builds(
    ScopeRun,
    kind=st.sampled_from(["case", "step"]),
    test_id=st.sampled_from(["t::a", None]),
    case_id=st.sampled_from(["c1", None]),
    step=st.sampled_from(["triage", None]),
    wall_ms=st.none() | st.integers(0, 10_000).map(float),
)


@settings(max_examples=150)
@given(
    st.lists(records(), max_size=20),
    st.lists(records(), max_size=20),
    st.lists(runs, max_size=5),
    st.lists(runs, max_size=5),
)
def test_summaries_merge_exactly_by_addition(
    a: list[TokenRecord], b: list[TokenRecord], runs_a: list[ScopeRun], runs_b: list[ScopeRun]
) -> None:
    merged = TokenSummary.from_records(a, runs_a) + TokenSummary.from_records(b, runs_b)
    whole = TokenSummary.from_records(a + b, runs_a + runs_b)
    assert merged.model_dump() == whole.model_dump()


@given(st.lists(records(), max_size=30))
def test_breakdowns_add_up_to_the_totals(items: list[TokenRecord]) -> None:
    summary = TokenSummary.from_records(items)
    totals = summary.totals
    for breakdown in (summary.by_test, summary.by_step, summary.by_model):
        assert sum(t.usage.total for t in breakdown.values()) == totals.usage.total
        assert sum(t.records for t in breakdown.values()) == totals.records
        assert sum(t.cost_micro_usd or 0 for t in breakdown.values()) == (
            totals.cost_micro_usd or 0
        )
        assert sum(t.replayed_cost_micro_usd or 0 for t in breakdown.values()) == (
            totals.replayed_cost_micro_usd or 0
        )
    priced = [r.cost_micro_usd for r in items if r.cost_micro_usd is not None]
    # The money spent leaves replayed records out: $0 (not "not recorded") when all were.
    replayed = [r for r in items if r.replayed]
    spent = [r.cost_micro_usd for r in items if not r.replayed and r.cost_micro_usd is not None]
    assert totals.cost_micro_usd == (sum(spent) if spent or replayed else None)
    recorded = [r.cost_micro_usd for r in replayed if r.cost_micro_usd is not None]
    assert totals.replayed_cost_micro_usd == (sum(recorded) if recorded else None)
    assert totals.replayed_records == len(replayed)
    assert totals.replayed_tokens == sum(r.usage.total for r in replayed)
    assert totals.unpriced_records == len(items) - len(priced)
    assert summary.model_ids == {
        r.model: r.priced_as.partition(":")[2]
        for r in items
        if r.model and r.priced_as and r.priced_as.partition(":")[2] != r.model
    }
    assert sum(totals.tokens_by_provenance.values()) == totals.usage.total
    unpriced = {r.model or "(no model)" for r in items if r.cost_micro_usd is None}
    assert summary.unpriced_models == sorted(unpriced)


def test_an_unpriced_record_never_becomes_zero_dollars() -> None:
    record = TokenRecord(
        seq=0, model="mystery", usage=Usage(input=5), timestamp=WHEN, provenance=Provenance.REPORTED
    )
    totals = TokenSummary.from_records([record]).totals
    assert totals.cost_micro_usd is None
    assert totals.unpriced_records == 1
