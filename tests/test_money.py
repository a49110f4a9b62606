"""`money`: the one conversion of dollars to integer micro-USD, and the ways they are shown."""

from __future__ import annotations

from decimal import Decimal

from pytest_tokencost.money import (
    MICRO_USD_PER_USD,
    format_usd,
    format_usd_exact,
    micro_to_usd,
    usd_text,
    usd_to_micro,
)


def test_dollars_become_whole_micro_usd_rounded_to_the_nearest() -> None:
    assert MICRO_USD_PER_USD == 1_000_000
    assert usd_to_micro(0.05) == 50_000  # a budget of five cents
    assert usd_to_micro(0.000001) == 1
    assert usd_to_micro(0.0000004) == 0  # below half a micro-dollar
    assert usd_to_micro(0.0000006) == 1
    assert usd_to_micro(0.0012346) == 1_235  # an OpenRouter `usage.cost` of 1,234.6 micro-USD
    assert usd_to_micro(12.5) == 12_500_000


def test_micro_usd_back_to_exact_dollars() -> None:
    assert micro_to_usd(1) == Decimal("0.000001")
    assert micro_to_usd(2_196) == Decimal("0.002196")
    assert usd_text(2_196) == "0.002196"  # JUnit properties: every micro-dollar
    assert usd_text(12_500_000) == "12.500000"
    assert format_usd_exact(2_196) == "$0.002196"  # comparisons
    assert format_usd_exact(None) == "not recorded"


def test_dollars_for_people() -> None:
    assert format_usd(12_345_678) == "$12.35"
    assert format_usd(140_000) == "$0.140"
    assert format_usd(2_130) == "$0.00213"
    assert format_usd(0) == "$0.00"
    assert format_usd(None) == "not recorded"  # never a fabricated $0.00
