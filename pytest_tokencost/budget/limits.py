"""What a budget limits and how its state is told: channels, limits, statuses, the exception.

Shared by the scope tree (`scope.py`) and the session ledger (`ledger.py`), so that both give
one status ladder and one wording.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ..errors import TokenCostError
from ..money import MICRO_USD_PER_USD, usd_to_micro

__all__ = [
    "MAX_LIMIT",
    "BudgetStatus",
    "Channel",
    "Status",
    "TokenBudgetExceeded",
    "amount_text",
    "channel_name",
    "limits_from_kwargs",
    "status_of",
]


class Channel(StrEnum):
    """What a budget limits."""

    TOKENS = "tokens"
    INPUT = "input"
    OUTPUT = "output"
    MICRO_USD = "micro_usd"


class Status(StrEnum):
    """ok below the warn line, warn from it up to 100%, exceeded from 100%."""

    OK = "ok"
    WARN = "warn"
    EXCEEDED = "exceeded"


def status_of(committed: int, reserved: int, total: int, warn_at: float) -> Status:
    """The one status ladder of every pool: exceeded once what was spent reaches the limit,
    warn once what was spent or set aside reaches the warn line."""
    if committed >= total:
        return Status.EXCEEDED
    if committed + reserved >= total * warn_at:
        return Status.WARN
    return Status.OK


def amount_text(channel: Channel, value: int) -> str:
    """An amount of `channel` as people read it: dollars for micro-USD, else a token count."""
    if channel is Channel.MICRO_USD:
        from ..money import format_usd

        return format_usd(value)
    return f"{value:,}"


def channel_name(channel: Channel) -> str:
    """A channel as people say it: ``usd`` for the micro-USD channel, else its value."""
    return "usd" if channel is Channel.MICRO_USD else channel.value


class TokenBudgetExceeded(TokenCostError):
    """A scope's budget was reached: raised at the first spend (or reservation) that crosses."""

    # Shown in every failure as ``pytest_tokencost.budget.TokenBudgetExceeded``, its public name.
    __module__ = "pytest_tokencost.budget"

    def __init__(self, scope: str, channel: Channel, spent: int, limit: int) -> None:
        self.scope, self.channel, self.spent, self.limit = scope, channel, spent, limit
        super().__init__(
            f"token budget exceeded: {scope} spent {amount_text(channel, spent)} of its "
            f"{amount_text(channel, limit)} {channel_name(channel)} budget"
        )


@dataclass(frozen=True)
class BudgetStatus:
    """One limited channel of one scope, as reports show it."""

    scope: str
    channel: Channel
    limit: int
    used: int
    reserved: int
    remaining: int
    percent: float
    status: Status
    own: int
    children: int


#: The largest limit of any channel (tokens, or micro-USD: $1,000,000,000). Limits are stored
#: in SQLite's 64-bit integers by the session ledger; this keeps every sum far from overflow.
MAX_LIMIT = 10**15

_KWARGS = {
    "max_tokens": Channel.TOKENS,
    "max_input": Channel.INPUT,
    "max_output": Channel.OUTPUT,
    "max_usd": Channel.MICRO_USD,
}


def limits_from_kwargs(kwargs: Mapping[str, object], where: str) -> dict[Channel, int]:
    """Limits from ``max_tokens``/``max_input``/``max_output`` (ints) and ``max_usd`` (dollars).

    Raises `ValueError` naming `where` and the bad keyword.
    """
    __tracebackhide__ = True  # the error is the caller's: show its line, not this one
    limits: dict[Channel, int] = {}
    for key, value in kwargs.items():
        channel = _KWARGS.get(key)
        if channel is None:
            raise ValueError(f"{where}: unknown budget {key!r}; use {', '.join(sorted(_KWARGS))}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError(f"{where}: {key} must be a number, got {value!r}")
        if value <= 0:
            raise ValueError(f"{where}: {key} must be positive, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{where}: {key} must be finite, got {value!r}")
        if channel is Channel.MICRO_USD:
            limit = usd_to_micro(value)
            if limit < 1:
                raise ValueError(
                    f"{where}: {key}={value!r} rounds to $0 (budgets count whole micro-USD, "
                    "$0.000001)"
                )
        elif isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{where}: {key} must be a whole number of tokens, got {value!r}")
        else:
            limit = int(value)
        if limit > MAX_LIMIT:
            most = (
                f"{MAX_LIMIT // MICRO_USD_PER_USD:,} dollars"
                if channel is Channel.MICRO_USD
                else (f"{MAX_LIMIT:,} tokens")
            )
            raise ValueError(f"{where}: {key}={value!r} is too large; give at most {most}")
        limits[channel] = limit
    return limits
