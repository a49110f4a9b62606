"""Budgets: a conserved pool of tokens and micro-USD shared by nested scopes.

Every scope (session > test > case > step > sub-call) may set limits on some channels. Spend is
charged once to the scope where it happened and once to each of its ancestors, at the moment it
is committed, so a scope that raises has already handed its spend up. On every limited channel
of every scope ``total == free + reserved + committed`` holds at all times; ``free`` goes
negative on overspend, which is the exhaustion signal.

* `reserve` sets aside a known amount before work (and refuses work that would not fit);
* `reconcile` settles a reservation with what was really spent;
* `observe` commits spend that already happened (a driver model's own turn, a record).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .constants import DEFAULT_WARN_AT
from .errors import TokenCostError
from .money import usd_to_micro

__all__ = [
    "MAX_LIMIT",
    "BudgetScope",
    "BudgetStatus",
    "Channel",
    "Reservation",
    "Status",
    "TokenBudgetExceeded",
    "limits_from_kwargs",
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


class TokenBudgetExceeded(TokenCostError):
    """A scope's budget was reached: raised at the first spend (or reservation) that crosses."""

    def __init__(self, scope: str, channel: Channel, spent: int, limit: int) -> None:
        self.scope, self.channel, self.spent, self.limit = scope, channel, spent, limit
        super().__init__(
            f"token budget exceeded: {scope} spent {_amount(channel, spent)} of its "
            f"{_amount(channel, limit)} {channel_name(channel)} budget"
        )


def _amount(channel: Channel, value: int) -> str:
    if channel is Channel.MICRO_USD:
        from .money import format_usd

        return format_usd(value)
    return f"{value:,}"


def channel_name(channel: Channel) -> str:
    """A channel as people say it: ``usd`` for the micro-USD channel, else its value."""
    return "usd" if channel is Channel.MICRO_USD else channel.value


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
                f"{MAX_LIMIT // 1_000_000:,} dollars"
                if channel is Channel.MICRO_USD
                else (f"{MAX_LIMIT:,} tokens")
            )
            raise ValueError(f"{where}: {key}={value!r} is too large; give at most {most}")
        limits[channel] = limit
    return limits


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


@dataclass
class _Pool:
    total: int
    free: int
    reserved: int = 0
    committed: int = 0
    warned: bool = False


@dataclass
class Reservation:
    """Amounts set aside in a scope (and its ancestors) until reconciled or released."""

    scope: BudgetScope
    amounts: dict[Channel, int]
    settled: bool = False


WarnHook = Callable[["BudgetScope", Channel, int, int], None]


@dataclass
class BudgetScope:
    """A node of the budget tree. Thread-safe: one lock for the whole tree."""

    name: str
    limits: Mapping[Channel, int] = field(default_factory=dict)
    parent: BudgetScope | None = None
    warn_at: float = DEFAULT_WARN_AT
    on_warn: WarnHook | None = None

    def __post_init__(self) -> None:
        if not 0 < self.warn_at <= 1:
            raise ValueError(f"warn_at must be in (0, 1], got {self.warn_at}")
        self._lock: threading.RLock = self.parent._lock if self.parent else threading.RLock()
        self.pools = {ch: _Pool(total=limit, free=limit) for ch, limit in self.limits.items()}
        self.own = dict.fromkeys(Channel, 0)
        self.children = dict.fromkeys(Channel, 0)
        # A scope's ancestors and limits never change: worked out once, not at every charge.
        self._ancestors = tuple(self.parent.chain()) if self.parent else ()
        self._chain = (self, *self._ancestors)
        self._limited = frozenset(ch for scope in self.chain() for ch in scope.pools)
        #: Whether this scope or an ancestor limits dollars (records must then be priced).
        self.limits_usd = Channel.MICRO_USD in self._limited

    def child(self, name: str, limits: Mapping[Channel, int] | None = None) -> BudgetScope:
        """A nested scope charged to this one."""
        return BudgetScope(name, dict(limits or {}), self, self.warn_at, self.on_warn)

    def chain(self) -> Iterator[BudgetScope]:
        """This scope, then its ancestors up to the root."""
        scope: BudgetScope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent

    @property
    def limited(self) -> bool:
        """Whether this scope or an ancestor limits anything."""
        return bool(self._limited)

    def limited_channels(self) -> set[Channel]:
        """Channels limited here or above."""
        return set(self._limited)

    # -- the three operations ---------------------------------------------------------------

    def reserve(self, amounts: Mapping[Channel, int]) -> Reservation:
        """Set `amounts` aside; refuse (raise, reserving nothing) if any scope could not fit it."""
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        with self._lock:
            for scope in self.chain():
                for channel, pool in scope.pools.items():
                    amount = amounts.get(channel, 0)
                    if amount > pool.free:
                        raise TokenBudgetExceeded(
                            scope.name,
                            channel,
                            pool.committed + pool.reserved + amount,
                            pool.total,
                        )
            for scope in self.chain():
                for channel, pool in scope.pools.items():
                    amount = amounts.get(channel, 0)
                    pool.reserved += amount
                    pool.free -= amount
            return Reservation(self, dict(amounts))

    def reconcile(self, reservation: Reservation, spent: Mapping[Channel, int]) -> None:
        """Settle a reservation: release what was set aside, commit what was really spent."""
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        with self._lock:
            self._release(reservation)
            self._commit(spent)

    def release(self, reservation: Reservation) -> None:
        """Give a reservation back unspent (work that never happened)."""
        with self._lock:
            self._release(reservation)

    def observe(self, spent: Mapping[Channel, int]) -> None:
        """Commit spend that already happened; raise if it crossed a limit."""
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        with self._lock:
            self._commit(spent)

    def _release(self, reservation: Reservation) -> None:
        if reservation.settled:
            raise ValueError("this reservation was already settled")
        reservation.settled = True
        for scope in reservation.scope.chain():
            for channel, pool in scope.pools.items():
                amount = reservation.amounts.get(channel, 0)
                pool.reserved -= amount
                pool.free += amount

    def _commit(self, spent: Mapping[Channel, int]) -> None:
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        own = self.own
        for channel, amount in spent.items():
            if amount < 0:
                raise ValueError(f"spend cannot be negative ({channel.value}: {amount})")
            own[channel] += amount
        for scope in self._ancestors:
            children = scope.children
            for channel, amount in spent.items():
                children[channel] += amount
        if not self._limited:
            return
        crossed: tuple[BudgetScope, Channel, _Pool] | None = None
        for scope in self._chain:
            for channel, pool in scope.pools.items():
                amount = spent.get(channel, 0)
                pool.committed += amount
                pool.free -= amount
                used = pool.committed + pool.reserved
                if not pool.warned and used >= pool.total * scope.warn_at:
                    pool.warned = True  # once; a spend that goes straight to 100% only stops
                    if scope.on_warn is not None and pool.committed < pool.total:
                        scope.on_warn(scope, channel, used, pool.total)
                if crossed is None and amount and pool.committed >= pool.total:
                    crossed = (scope, channel, pool)
        if crossed is not None:
            scope, channel, pool = crossed
            raise TokenBudgetExceeded(scope.name, channel, pool.committed, pool.total)

    # -- reading ----------------------------------------------------------------------------

    def total_spent(self, channel: Channel) -> int:
        """Everything charged to this scope: its own spend plus its children's."""
        return self.own[channel] + self.children[channel]

    def statuses(self) -> list[BudgetStatus]:
        """The status of every limited channel of this scope."""
        with self._lock:
            result = []
            for channel, pool in self.pools.items():
                used = pool.committed
                percent = 100.0 * used / pool.total
                status = (
                    Status.EXCEEDED
                    if used >= pool.total
                    else Status.WARN
                    if used + pool.reserved >= pool.total * self.warn_at
                    else Status.OK
                )
                result.append(
                    BudgetStatus(
                        scope=self.name,
                        channel=channel,
                        limit=pool.total,
                        used=used,
                        reserved=pool.reserved,
                        remaining=pool.free,
                        percent=round(percent, 2),
                        status=status,
                        own=self.own[channel],
                        children=self.children[channel],
                    )
                )
            return result

    def check(self) -> None:
        """Assert the conservation law on every limited channel (for tests and debugging)."""
        for channel, pool in self.pools.items():
            if pool.total != pool.free + pool.reserved + pool.committed:
                raise AssertionError(f"{self.name}/{channel}: conservation broken: {pool}")
