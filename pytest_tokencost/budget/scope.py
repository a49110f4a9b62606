"""Budget scopes: a conserved pool of tokens and micro-USD shared by nested scopes.

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

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from ..constants import DEFAULT_WARN_AT
from .limits import BudgetStatus, Channel, TokenBudgetExceeded, status_of

__all__ = ["BudgetScope", "Reservation", "WarnHook"]


@dataclass
class _Pool:
    total: int
    free: int
    reserved: int = 0
    committed: int = 0
    warned: bool = False
    #: ``total * warn_at``, worked out once: the warn line is checked at every charge.
    warn_line: float = 0.0


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
        self.pools = {
            ch: _Pool(total=limit, free=limit, warn_line=limit * self.warn_at)
            for ch, limit in self.limits.items()
        }
        #: What was spent in this very scope, per channel (its children's spend is `children`).
        self.own = dict.fromkeys(Channel, 0)
        # Nested scopes, so that `children` is summed when read, not at every charge.
        self._kids: list[BudgetScope] = []
        if self.parent is not None:
            with self._lock:
                self.parent._kids.append(self)
        # A scope's ancestors and limits never change: worked out once, not at every charge.
        self._ancestors = tuple(self.parent.chain()) if self.parent else ()
        self._chain = (self, *self._ancestors)
        self._limited = frozenset(ch for scope in self.chain() for ch in scope.pools)
        #: Whether this scope or an ancestor limits dollars (records must then be priced).
        self.limits_usd = Channel.MICRO_USD in self._limited
        #: Every limited pool of this scope and its ancestors, in order: what a commit walks.
        self._plan = tuple(
            (scope, channel, pool) for scope in self._chain for channel, pool in scope.pools.items()
        )

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
        lock = self._lock
        lock.acquire()  # acquire/release: cheaper than `with` on the hot path of every record
        try:
            self._commit(spent)
        finally:
            lock.release()

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
        """Commit `spent` here (own) and to every limited pool here and above; raise at the
        first pool it crossed. One flat function: it runs at every budgeted record."""
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        own = self.own
        for channel, amount in spent.items():
            if amount < 0:
                raise ValueError(f"spend cannot be negative ({channel.value}: {amount})")
            own[channel] += amount
        crossed: tuple[BudgetScope, Channel, _Pool] | None = None
        for scope, channel, pool in self._plan:
            amount = spent.get(channel, 0)
            pool.committed += amount
            pool.free -= amount
            if not pool.warned and pool.committed + pool.reserved >= pool.warn_line:
                scope._warned(channel, pool)
            if crossed is None and amount and pool.committed >= pool.total:
                crossed = (scope, channel, pool)
        if crossed is not None:
            scope, channel, pool = crossed
            raise TokenBudgetExceeded(scope.name, channel, pool.committed, pool.total)

    def _warned(self, channel: Channel, pool: _Pool) -> None:
        pool.warned = True  # once; a spend that goes straight to 100% only stops
        if self.on_warn is not None and pool.committed < pool.total:
            self.on_warn(self, channel, pool.committed + pool.reserved, pool.total)

    # -- reading ----------------------------------------------------------------------------

    @property
    def children(self) -> dict[Channel, int]:
        """What nested scopes spent, per channel (summed over the whole subtree, when read)."""
        with self._lock:
            totals = dict.fromkeys(Channel, 0)
            for kid in self._kids:
                for channel in Channel:
                    totals[channel] += kid.total_spent(channel)
            return totals

    def total_spent(self, channel: Channel) -> int:
        """Everything charged to this scope: its own spend plus its children's."""
        with self._lock:
            return self.own[channel] + sum(kid.total_spent(channel) for kid in self._kids)

    def statuses(self) -> list[BudgetStatus]:
        """The status of every limited channel of this scope."""
        with self._lock:
            result = []
            for channel, pool in self.pools.items():
                used = pool.committed
                percent = 100.0 * used / pool.total
                status = status_of(used, pool.reserved, pool.total, self.warn_at)
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
                        children=self.total_spent(channel) - self.own[channel],
                    )
                )
            return result

    def check(self) -> None:
        """Assert the conservation law on every limited channel (for tests and debugging)."""
        for channel, pool in self.pools.items():
            if pool.total != pool.free + pool.reserved + pool.committed:
                raise AssertionError(f"{self.name}/{channel}: conservation broken: {pool}")
