"""Pricing from a model resolved once gives genai-prices' own figures, to the micro-dollar.

10,000 seeded random requests over models with long-context tiers (claude-sonnet-4-5 and
gemini-2.5-pro above 200k input tokens), dated price changes (claude-sonnet-4-6, opus-4-6),
time-of-day prices (deepseek-chat), 1-hour cache writes and web searches, each compared with
`genai_prices.calc_price` called for that request alone.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import genai_prices
import pytest

from pytest_tokencost import Usage
from pytest_tokencost.errors import PriceFileError
from pytest_tokencost.genai_table import genai_usage_counts
from pytest_tokencost.pricing import Pricer, load_price_overrides, to_micro_usd

MODELS = [
    ("claude-sonnet-4-5", "anthropic"),
    ("claude-sonnet-4-6", "anthropic"),
    ("claude-opus-4-6", "anthropic"),
    ("claude-sonnet-4-20250514", "anthropic"),
    ("claude-sonnet-4-5", "google"),
    ("gemini-2.5-pro", "google"),
    ("gemini-2.5-flash", None),
    ("gpt-4o", "openai"),
    ("gpt-5", None),
    ("deepseek-chat", "deepseek"),
    ("openai/gpt-4o", "openrouter"),
]


def _random_usage(rng: random.Random) -> Usage:
    size = rng.choice(
        [rng.randint(0, 5_000), rng.randint(150_000, 450_000), 200_000, 200_001, 128_001]
    )
    read = rng.randint(0, size) if rng.random() < 0.6 else 0
    written = rng.randint(0, size - read) if rng.random() < 0.6 else 0
    one_hour = rng.choice([0, written, rng.randint(0, written)])
    output = rng.randint(0, 64_000)
    return Usage(
        input=size,
        output=output,
        cache_read=read or rng.choice([None, 0]),
        cache_write=written or None,
        cache_write_1h=one_hour or None,
        reasoning=rng.randint(0, output) if rng.random() < 0.3 else None,
        web_searches=rng.choice([None, 0, 1, 4]),
    )


def test_ten_thousand_random_requests_match_calc_price() -> None:
    rng = random.Random(20261122)
    pricer = Pricer()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    tiers_crossed = one_hour_writes = 0
    for _ in range(10_000):
        model, provider = rng.choice(MODELS)
        usage = _random_usage(rng)
        when = start + timedelta(seconds=rng.randint(0, 3 * 365 * 86_400))
        price = pricer.price(model, provider, usage, when)
        calc = genai_prices.calc_price(
            genai_prices.Usage(**genai_usage_counts(usage)),
            model,
            provider_id=provider,
            genai_request_timestamp=when,
        )
        expected = (
            to_micro_usd(calc.total_price * 1_000_000),
            to_micro_usd(calc.input_price * 1_000_000),
        )
        assert (price.total_micro_usd, price.input_micro_usd) == expected, (model, usage, when)
        assert price.priced_as == f"{calc.provider.id}:{calc.model.id}"
        tiers_crossed += usage.input > 200_000
        one_hour_writes += bool(usage.cache_write_1h)
    assert tiers_crossed > 2_000 and one_hour_writes > 2_000  # the sample covers both


def test_a_long_request_is_priced_at_its_own_tier() -> None:
    # claude-sonnet-4-5 above 200k input tokens: $6 input, $22.50 output per MTok for all of
    # the request's tokens; below it $3 / $15. Two 120k requests stay below, one 240k above.
    pricer = Pricer()
    when = datetime(2026, 1, 5, tzinfo=UTC)
    short = pricer.price("claude-sonnet-4-5", "anthropic", Usage(input=120_000, output=1_000), when)
    long = pricer.price("claude-sonnet-4-5", "anthropic", Usage(input=240_000, output=2_000), when)
    assert short.total_micro_usd == 120_000 * 3 + 1_000 * 15
    assert long.total_micro_usd == 240_000 * 6 + 2_000 * 45 // 2


def test_a_price_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_bytes('[models."caf\u00e9"]\ninput_mtok = 1\noutput_mtok = 2\n'.encode("latin-1"))
    with pytest.raises(PriceFileError, match=r"prices\.toml is not UTF-8 text"):
        load_price_overrides(prices)
