"""Money and its units: the one place where USD becomes integer micro-USD, and back for people.

Costs are kept and summed as integer micro-USD (`MICRO_USD_PER_USD` to the dollar); dollars
appear only at the edges: amounts users give (budgets, gates) and providers report (their own
`cost` fields) enter through `usd_to_micro`; every report shows amounts with `format_usd` (or,
where every micro-dollar counts, `format_usd_exact` / `usd_text`).

Light (no pydantic): the CLI's history commands and the settings at pytest start import it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "MICRO_USD_PER_USD",
    "format_usd",
    "format_usd_exact",
    "micro_to_usd",
    "usd_text",
    "usd_to_micro",
]

#: Micro-USD in one US dollar.
MICRO_USD_PER_USD = 1_000_000


def usd_to_micro(usd: float) -> int:
    """A dollar amount as whole micro-USD, rounded to the nearest (``0.05`` -> ``50000``)."""
    return round(usd * MICRO_USD_PER_USD)


def micro_to_usd(micro_usd: int) -> Decimal:
    """Integer micro-USD as exact dollars (a `Decimal`: no float rounding)."""
    return Decimal(micro_usd) / MICRO_USD_PER_USD


def usd_text(micro_usd: int) -> str:
    """Every micro-dollar as a plain number of dollars, for machines: ``0.002196``."""
    return f"{micro_to_usd(micro_usd):.6f}"


def format_usd_exact(micro_usd: int | None) -> str:
    """Every micro-dollar shown, for comparisons: ``$0.002196``; "not recorded" for None."""
    return "not recorded" if micro_usd is None else f"${usd_text(micro_usd)}"


def format_usd(micro_usd: int | None) -> str:
    """Dollars for people, one rule everywhere: two decimals from $1, three significant digits
    below (``$12.35``, ``$0.140``, ``$0.00213``), never more precise than the micro-dollars
    kept; ``$0.00`` for zero and "not recorded" for None."""
    if micro_usd is None:
        return "not recorded"
    magnitude = abs(micro_usd)
    # Below $1: 3 significant digits (a 6-digit micro amount is $0.xyz, 5 digits $0.0xyz...).
    places = (
        2 if magnitude >= MICRO_USD_PER_USD or not magnitude else min(6, 9 - len(str(magnitude)))
    )
    exact = micro_to_usd(micro_usd)
    dollars = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if places > 2 and abs(dollars) >= 1:  # $0.9996 rounds up to a dollar: two decimals
        dollars = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"-${-dollars:,}" if dollars < 0 else f"${dollars:,}"
