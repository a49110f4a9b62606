"""Money for people: the one rule by which every report shows integer micro-USD as dollars.

Light (no pydantic): the CLI's history commands import it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["format_usd"]


def format_usd(micro_usd: int | None) -> str:
    """Dollars for people, one rule everywhere: two decimals from $1, three significant digits
    below (``$12.35``, ``$0.140``, ``$0.00213``), never more precise than the micro-dollars
    kept; ``$0.00`` for zero and "not recorded" for None."""
    if micro_usd is None:
        return "not recorded"
    magnitude = abs(micro_usd)
    # Below $1: 3 significant digits (a 6-digit micro amount is $0.xyz, 5 digits $0.0xyz...).
    places = 2 if magnitude >= 1_000_000 or not magnitude else min(6, 9 - len(str(magnitude)))
    exact = Decimal(micro_usd) / 1_000_000
    dollars = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if places > 2 and abs(dollars) >= 1:  # $0.9996 rounds up to a dollar: two decimals
        dollars = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"-${-dollars:,}" if dollars < 0 else f"${dollars:,}"
