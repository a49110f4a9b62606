"""Money for people: integer micro-USD shown in dollars (light: no pydantic, for the CLI)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["format_usd"]


def format_usd(micro_usd: int | None) -> str:
    """Dollars for people: 2 decimals from $0.10, 3 from $0.001, else 6; None is "not recorded"."""
    if micro_usd is None:
        return "not recorded"
    magnitude = abs(micro_usd)
    places = 2 if magnitude >= 100_000 else 3 if magnitude >= 1_000 else 6
    if micro_usd == 0:
        places = 2
    dollars = (Decimal(micro_usd) / 1_000_000).quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP
    )
    return f"-${-dollars:,}" if dollars < 0 else f"${dollars:,}"
