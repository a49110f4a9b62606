"""Pricing: genai-prices figures to the micro-dollar, overrides, the default rate, unknowns."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest

from pytest_tokencost import PriceSource, Usage
from pytest_tokencost.errors import PriceFileError
from pytest_tokencost.pricing import DEFAULT_RATE, Pricer, Rate, load_price_overrides

WHEN = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _genai_micro_usd(model: str, usage: Usage, provider: str | None = None) -> int:
    counts = {"input_tokens": usage.input, "output_tokens": usage.output}
    if usage.cache_read:
        counts["cache_read_tokens"] = usage.cache_read
    if usage.cache_write:
        counts["cache_write_tokens"] = usage.cache_write
    calc = genai_prices.calc_price(
        genai_prices.Usage(**counts), model, provider_id=provider, genai_request_timestamp=WHEN
    )
    micro = calc.total_price * 1_000_000
    assert micro == micro.to_integral_value(), "pick counts that make whole micro-dollars"
    return int(micro)


@pytest.mark.parametrize(
    ("model", "provider", "usage"),
    [
        ("gpt-4o", "openai", Usage(input=12_000, output=3_400)),
        ("claude-sonnet-4", "anthropic", Usage(input=20_000, output=1_000)),
        # A cached Anthropic call: 312 uncached + 2,000 read + 1,000 written = 3,312 input.
        (
            "claude-sonnet-4-20250514",
            "anthropic",
            Usage(input=3_312, output=480, cache_read=2_000, cache_write=1_000),
        ),
        ("gpt-4o-2024-08-06", None, Usage(input=4_000, output=200, cache_read=2_000)),
    ],
)
def test_cost_equals_genai_prices_exactly(model: str, provider: str | None, usage: Usage) -> None:
    price = Pricer().price(model, provider, usage, WHEN)
    assert price.source is PriceSource.GENAI_PRICES
    assert price.total_micro_usd == _genai_micro_usd(model, usage, provider)
    assert price.input_micro_usd is not None and price.output_micro_usd is not None
    assert price.input_micro_usd + price.output_micro_usd == price.total_micro_usd


def test_cache_reads_are_cheaper_than_fresh_input() -> None:
    fresh = Pricer().price("claude-sonnet-4", "anthropic", Usage(input=10_000, output=0), WHEN)
    cached = Pricer().price(
        "claude-sonnet-4", "anthropic", Usage(input=10_000, output=0, cache_read=9_000), WHEN
    )
    assert fresh.total_micro_usd == 30_000  # $3 per MTok
    assert cached.total_micro_usd == 1_000 * 3 + 9_000 * Decimal("0.3")


def test_gateway_model_names_are_priced_as_the_upstream_model() -> None:
    usage = Usage(input=4_000, output=100)
    gateway = Pricer().price("openai/gpt-4o", "openai", usage, WHEN)
    direct = Pricer().price("gpt-4o", "openai", usage, WHEN)
    assert gateway.source is PriceSource.GENAI_PRICES
    assert gateway.total_micro_usd == direct.total_micro_usd == 4_000 * 2.5 + 100 * 10


def test_sub_micro_dollar_costs_round_half_up() -> None:
    # 7 gpt-4o input tokens at $2.50/MTok = 17.5 micro-USD.
    price = Pricer().price("gpt-4o", None, Usage(input=7, output=0), WHEN)
    assert price.total_micro_usd == 18


def test_records_without_a_model_use_the_default_rate() -> None:
    price = Pricer().price(None, None, Usage(input=1_000_000, output=1_000_000), WHEN)
    assert price.source is PriceSource.DEFAULT_RATE
    assert (price.input_micro_usd, price.output_micro_usd) == (3_000_000, 15_000_000)
    custom = Pricer(default_rate=Rate.parse("1.5, 6"))
    assert custom.price(None, None, Usage(input=2, output=1), WHEN).total_micro_usd == 9


def test_unknown_models_are_not_recorded_unless_the_default_rate_is_extended() -> None:
    usage = Usage(input=100, output=100)
    price = Pricer().price("in-house-llm-7b", None, usage, WHEN)
    assert price.source is PriceSource.NOT_RECORDED
    assert price.total_micro_usd is None  # never a fabricated $0.00
    extended = Pricer(default_rate_for_unknown=True).price("in-house-llm-7b", None, usage, WHEN)
    assert extended.source is PriceSource.DEFAULT_RATE
    assert extended.total_micro_usd == 1_800


def test_override_file_wins_over_genai_prices(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[models."gpt-4o"]\ninput_mtok = 1.0\noutput_mtok = 2.0\ncache_read_mtok = 0.1\n\n'
        '[models."acme/in-house-llm-7b"]\ninput_mtok = 0.2\noutput_mtok = 0.4\n',
        encoding="utf-8",
    )
    pricer = Pricer(load_price_overrides(prices))
    price = pricer.price("GPT-4o", "openai", Usage(input=1_000, output=100, cache_read=500), WHEN)
    assert price.source is PriceSource.OVERRIDE
    assert price.total_micro_usd == 500 * 1 + 500 * Decimal("0.1") + 100 * 2
    in_house = pricer.price("in-house-llm-7b", "acme", Usage(input=10, output=10), WHEN)
    assert (in_house.source, in_house.total_micro_usd) == (PriceSource.OVERRIDE, 6)
    assert in_house.priced_as == "acme/in-house-llm-7b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[models."m"]\ninput_mtok = 1.0\noutput_mtok = \n', r"not valid TOML.*line 3"),
        (
            '[models."m"]\ninput_mtok = 1.0\n\n[models."n"]\ninput_mtok = -2\noutput_mtok = 1\n',
            r"prices.toml:line 5: models.n.input_mtok: Input should be greater than or equal to 0",
        ),
        ('[models."m"]\ninput_mtok = "cheap"\noutput_mtok = 1\n', r"line 2: models.m.input_mtok"),
        ('[models."m"]\ninput_mtok = 1\n', r"line 1: models.m.output_mtok: Field required"),
        (
            '[models."m"]\ninput_mtok = 1\noutput_mtok = 1\ncached = 0.1\n',
            r"line 4: models.m.cached: Extra inputs",
        ),
        ("[pricing]\n", r"top level: models: Field required"),
    ],
)
def test_a_bad_override_file_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(text, encoding="utf-8")
    with pytest.raises(PriceFileError, match=message):
        load_price_overrides(prices)


def test_a_missing_override_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PriceFileError, match=r"cannot read price file .*nope\.toml"):
        load_price_overrides(tmp_path / "nope.toml")


@pytest.mark.parametrize("text", ["3", "3,15,1", "a,b", "-1,2", ""])
def test_rate_parse_rejects_malformed_rates(text: str) -> None:
    with pytest.raises(ValueError, match="INPUT,OUTPUT"):
        Rate.parse(text)


def test_default_rate_is_the_contract_rate() -> None:
    assert DEFAULT_RATE.describe() == "$3/$15 per MTok"
