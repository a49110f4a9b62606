"""Every billable unit is kept and priced: the 1-hour part of cache writes and web searches.

Hand-computed costs, with genai-prices as the oracle: Anthropic bills a 5-minute cache write
at 1.25x the input price and a 1-hour write at 2x; web searches cost $10 per 1,000.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
import yaml

from pytest_tokencost import InMemoryTokenTracker, Usage
from pytest_tokencost.errors import UnreadablePayloadError
from pytest_tokencost.genai_table import genai_usage_counts
from pytest_tokencost.pricing import Pricer, Rate, load_price_overrides, to_micro_usd
from pytest_tokencost.providers import usage_from, usage_from_body, usage_from_stream
from pytest_tokencost.render import render_report
from pytest_tokencost.report import TokenReport
from pytest_tokencost.summary import TokenSummary
from pytest_tokencost.transcripts import read_transcripts

WHEN = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _oracle(model: str, provider: str, usage: Usage, when: datetime = WHEN) -> int:
    calc = genai_prices.calc_price(
        genai_prices.Usage(**genai_usage_counts(usage)),
        model,
        provider_id=provider,
        genai_request_timestamp=when,
    )
    return to_micro_usd(calc.total_price * 1_000_000)


# -- the model ---------------------------------------------------------------------------------


def test_one_hour_writes_are_a_part_of_cache_writes() -> None:
    Usage(input=10, output=0, cache_write=4, cache_write_1h=4)
    with pytest.raises(ValueError, match=r"cache_write_1h \(5\) exceeds cache_write \(4\)"):
        Usage(input=10, output=0, cache_write=4, cache_write_1h=5)
    with pytest.raises(ValueError, match="cache_write_1h"):
        Usage(input=10, output=0, cache_write_1h=1)  # writes not said: 1 > 0


def test_sums_keep_unknown_apart_from_zero() -> None:
    said = Usage(input=10, output=1, cache_write=4, cache_write_1h=3, web_searches=2)
    unsaid = Usage(input=5, output=1)
    assert (said + unsaid).cache_write_1h == 3
    assert (said + unsaid).web_searches == 2
    assert (unsaid + unsaid).cache_write_1h is None
    assert (unsaid + unsaid).web_searches is None
    assert (said + unsaid).total == 17  # searches are not tokens


# -- pricing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        # 100,000 tokens written for 5 minutes: 100,000 x $3.75/MTok (1.25 x $3).
        (Usage(input=100_000, output=0, cache_write=100_000), 375_000),
        # ... the same tokens kept for an hour: 100,000 x $6/MTok (2 x $3).
        (Usage(input=100_000, output=0, cache_write=100_000, cache_write_1h=100_000), 600_000),
        # 10,000 fresh ($0.03) + 60,000 5-minute ($0.225) + 40,000 1-hour ($0.24) writes.
        (Usage(input=110_000, output=0, cache_write=100_000, cache_write_1h=40_000), 495_000),
        # 3 web searches at $10 per 1,000, beside 1,000 input and 100 output tokens.
        (Usage(input=1_000, output=100, web_searches=3), 3_000 + 1_500 + 30_000),
    ],
)
def test_one_hour_writes_and_web_searches_are_priced(usage: Usage, expected: int) -> None:
    price = Pricer().price("claude-sonnet-4-20250514", "anthropic", usage, WHEN)
    assert (
        price.total_micro_usd == expected == _oracle("claude-sonnet-4-20250514", "anthropic", usage)
    )
    assert price.input_micro_usd is not None and price.output_micro_usd is not None
    assert price.input_micro_usd + price.output_micro_usd == price.total_micro_usd
    if usage.web_searches:  # server tool charges are in the output part
        assert price.output_micro_usd == 1_500 + 30_000


def test_openai_web_searches_are_priced() -> None:
    usage = Usage(input=9_299, output=577, cache_read=8_448, reasoning=512, web_searches=1)
    # 851 x $1.25 + 8,448 x $0.125 + 577 x $10 per MTok, + 1 search at $10/1,000.
    expected = to_micro_usd(
        Decimal(851) * Decimal("1.25") + 8_448 * Decimal("0.125") + 577 * 10 + 10_000
    )
    price = Pricer().price("gpt-5-2025-08-07", "openai", usage, WHEN)
    assert price.total_micro_usd == expected == _oracle("gpt-5-2025-08-07", "openai", usage)


def test_override_and_default_rates_price_one_hour_writes_and_searches(tmp_path: Path) -> None:
    usage = Usage(input=1_100, output=10, cache_write=1_000, cache_write_1h=400, web_searches=2)
    # The default rate ($3/$15) says nothing of caches: writes at the input price; searches
    # at $10 per 1,000.
    default = Pricer().price(None, None, usage, WHEN)
    assert default.total_micro_usd == 1_100 * 3 + 10 * 15 + 2 * 10_000
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[models."my-model"]\ninput_mtok = 2\noutput_mtok = 10\ncache_write_mtok = 2.5\n'
        "cache_write_1h_mtok = 4\nweb_searches_kcount = 25\n"
    )
    price = Pricer(load_price_overrides(prices)).price("my-model", None, usage, WHEN)
    # 100 fresh x 2 + 600 x 2.5 + 400 x 4, + 10 x 10, + 2 searches x $25/1,000.
    assert price.total_micro_usd == 200 + 1_500 + 1_600 + 100 + 50_000
    assert price.input_micro_usd == 200 + 1_500 + 1_600
    without_1h_price = Rate(
        input_mtok=Decimal(2), output_mtok=Decimal(0), cache_write_mtok=Decimal(3)
    )
    assert without_1h_price.cost(usage)[1] == 200 + 1_000 * 3  # 1-hour writes at the write price


# -- every source reads them ------------------------------------------------------------------


def _anthropic_message(one_hour: int, searches: int) -> dict[str, object]:
    return {
        "id": "msg_01",
        "type": "message",
        "model": "claude-sonnet-4-20250514",
        "usage": {
            "input_tokens": 50,
            "cache_creation_input_tokens": 1_000,
            "cache_read_input_tokens": 2_000,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 1_000 - one_hour,
                "ephemeral_1h_input_tokens": one_hour,
            },
            "output_tokens": 300,
            "server_tool_use": {"web_search_requests": searches},
            "service_tier": "standard",
        },
    }


def test_observe_reads_and_prices_one_hour_writes_and_searches() -> None:
    tracker = InMemoryTokenTracker()
    usage = tracker.observe(_anthropic_message(one_hour=600, searches=2))
    assert usage == Usage(
        input=3_050,
        output=300,
        cache_read=2_000,
        cache_write=1_000,
        cache_write_1h=600,
        web_searches=2,
    )
    (record,) = tracker.records()
    # 50 x 3 + 2,000 x 0.3 + 400 x 3.75 + 600 x 6 + 300 x 15, + 2 x $10/1,000.
    assert record.cost_micro_usd == 150 + 600 + 1_500 + 3_600 + 4_500 + 20_000
    assert record.cost_micro_usd == _oracle("claude-sonnet-4-20250514", "anthropic", usage)


def test_a_message_without_the_split_leaves_the_parts_unknown() -> None:
    message = _anthropic_message(0, 0)
    usage = message["usage"]
    assert isinstance(usage, dict)
    del usage["cache_creation"], usage["server_tool_use"]
    observed = usage_from(message).usage
    assert (observed.cache_write, observed.cache_write_1h, observed.web_searches) == (
        1000,
        None,
        None,
    )


def test_an_anthropic_stream_carries_them_from_start_and_final_delta() -> None:
    start_usage = _anthropic_message(one_hour=700, searches=0)["usage"]
    events = [
        {"type": "message_start", "message": {"model": "claude-opus-4-6", "usage": start_usage}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 120},
        },
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 341, "server_tool_use": {"web_search_requests": 1}},
        },
        {"type": "message_stop"},
    ]
    usage = usage_from_stream(events).usage
    assert (usage.output, usage.cache_write_1h, usage.web_searches) == (341, 700, 1)


def test_captured_bodies_carry_them(corpus: Path) -> None:
    cassette = yaml.safe_load(
        (corpus / "anthropic" / "simonw-llm-anthropic__messages_stream_web_search.yaml").read_text()
    )
    body = cassette["interactions"][0]["response"]["body"]["string"]
    observed = usage_from_body(body)
    assert observed.usage.web_searches == 1
    # 10,423 x $15 + 341 x $75 per MTok, + 1 search at $10/1,000.
    expected = 10_423 * 15 + 341 * 75 + 10_000
    price = Pricer().price(observed.model, "anthropic", observed.usage, WHEN)
    assert (
        price.total_micro_usd
        == expected
        == _oracle("claude-opus-4-1-20250805", "anthropic", observed.usage)
    )


def test_openai_responses_count_web_search_call_items() -> None:
    response = {
        "object": "response",
        "model": "gpt-5",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "web_search_call", "id": "ws_2", "status": "completed"},
            {"type": "message", "id": "msg_1", "content": []},
        ],
        "usage": {"input_tokens": 100, "output_tokens": 20},
    }
    assert usage_from(response).usage.web_searches == 2
    del response["output"]
    assert usage_from(response).usage.web_searches is None  # a usage-only payload cannot say
    response["output"] = "oops"
    with pytest.raises(UnreadablePayloadError, match="field 'output'"):
        usage_from(response)


def test_claude_code_transcripts_carry_them(corpus: Path) -> None:
    (response,) = read_transcripts([corpus / "claude-code" / "spotter__short.jsonl"]).responses
    assert response.usage.cache_write == response.usage.cache_write_1h == 13_835
    assert response.usage.web_searches is None  # this version logs no server_tool_use
    # opus-4-6: 3 x $5 + 11,515 x $0.5 + 13,835 x $10 (1-hour) + 13 x $25 per MTok
    # = 144,447.5 micro-USD; at the 5-minute rate ($6.25) it would be 92,566.
    price = Pricer().price(response.model, "anthropic", response.usage, response.timestamp or WHEN)
    assert price.total_micro_usd == 144_448
    assert price.total_micro_usd == _oracle(
        "claude-opus-4-6", "anthropic", response.usage, response.timestamp or WHEN
    )


# -- summaries and the terminal table ---------------------------------------------------------


def _report(usages: list[Usage]) -> TokenReport:
    tracker = InMemoryTokenTracker()
    for usage in usages:
        tracker.record(model="claude-sonnet-4-20250514", usage=usage)
    summary = TokenSummary.from_records(tracker.records())
    return TokenReport.model_validate(
        {
            "run": {
                "run_id": "r",
                "started": WHEN,
                "finished": WHEN,
                "wall_s": 0,
                "pytest_version": "x",
                "plugin_version": "x",
                "argv": [],
            },
            "summary": summary.model_dump(),
            "prices": {"genai_prices_version": "x", "default_rate": "$3/$15 per MTok"},
        }
    )


def test_summaries_add_them_and_the_table_shows_them_only_when_present() -> None:
    with_parts = [
        Usage(input=1_000, output=10, cache_write=500, cache_write_1h=200, web_searches=1),
        Usage(input=2_000, output=20, cache_write=700, cache_write_1h=300),
    ]
    report = _report(with_parts)
    totals = report.summary.totals.usage
    assert (totals.cache_write, totals.cache_write_1h, totals.web_searches) == (1_200, 500, 1)
    lines = render_report(report)
    header = next(line for line in lines if line.startswith("model"))
    assert "1h write" in header and "web searches" in header
    plain = render_report(_report([Usage(input=1_000, output=10, cache_write=500)]))
    header = next(line for line in plain if line.startswith("model"))
    assert "1h write" not in header and "web searches" not in header
    json.dumps(report.model_dump(mode="json"))  # the report document holds them as plain JSON
