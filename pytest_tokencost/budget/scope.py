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

import math
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from ..constants import DEFAULT_WARN_AT
from .limits import BudgetStatus, Channel, TokenBudgetExceeded, status_of

__all__ = ["BudgetScope", "Reservation", "WarnHook"]


#: Where each channel's amount sits in a record's amounts, ``(tokens, input, output, micro_usd)``:
#: the hot path indexes a tuple instead of hashing channels into a dict.
_SLOTS = {Channel.TOKENS: 0, Channel.INPUT: 1, Channel.OUTPUT: 2, Channel.MICRO_USD: 3}


@dataclass(slots=True, eq=False)
class _Pool:
    """One limited channel of one scope. ``free`` is worked out when read, so the law
    ``total == free + reserved + committed`` holds by construction and a charge touches one
    number per pool."""

    #: The scope whose pool this is (it names the pool in warnings and failures).
    owner: BudgetScope = field(repr=False)
    channel: Channel
    total: int
    #: ``total * warn_at``, worked out once: the warn line.
    warn_line: float
    reserved: int = 0
    committed: int = 0
    warned: bool = False
    #: Where a charge must look closer (the warn line less what is reserved, until warned;
    #: then the limit): below it, a charge only adds. A whole number, so that the hot path
    #: compares two ints (``committed + reserved >= warn_line`` for whole tokens is
    #: ``committed >= ceil(warn_line) - reserved``).
    alarm: int = 0

    def __post_init__(self) -> None:
        self.rearm()

    @property
    def free(self) -> int:
        """What is neither reserved nor committed (negative on overspend)."""
        return self.total - self.reserved - self.committed

    def exceeded(self) -> TokenBudgetExceeded:
        """The failure of a charge that reached this pool's limit."""
        return TokenBudgetExceeded(self.owner.name, self.channel, self.committed, self.total)

    def rearm(self) -> None:
        """Work out `alarm` again after `reserved` or `warned` changed."""
        line = math.ceil(self.warn_line) - self.reserved
        self.alarm = self.total if self.warned else min(self.total, line)


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
            ch: _Pool(self, ch, limit, limit * self.warn_at) for ch, limit in self.limits.items()
        }
        # What was spent in this very scope, by slot (`own` reads it per channel), except that
        # slot 0 holds only the tokens beyond input + output (a record's tokens are their sum,
        # so the hot path adds two numbers, not three; `observe({TOKENS: n})` adds n there).
        self._own = [0, 0, 0, 0]
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
        #: Every limited pool of this scope and its ancestors, in order, with the slot of the
        #: amount it counts: what a charge walks.
        self._plan = tuple(
            (pool, _SLOTS[channel])
            for scope in self._chain
            for channel, pool in scope.pools.items()
        )
        # When every limited pool of the chain counts tokens (the common budget), a record
        # adds one number to each: `charge_record` is chosen once, here.
        self._token_plan = tuple(pool for pool, _ in self._plan)
        only_tokens = all(slot == 0 for _, slot in self._plan)
        #: Commits one record's ``(given, taken)`` input and output tokens, unpriced; raises
        #: at a crossing. What the charger calls when no dollar budget covers the record.
        self.charge_record: Callable[[int, int], None] = (
            self._charge_tokens if only_tokens else self.charge
        )

    @property
    def own(self) -> dict[Channel, int]:
        """What was spent in this very scope, per channel (its children's spend is `children`)."""
        with self._lock:
            return {channel: self._own_of(slot) for channel, slot in _SLOTS.items()}

    def _own_of(self, slot: int) -> int:
        own = self._own
        return own[0] + own[1] + own[2] if slot == 0 else own[slot]

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
                    pool.reserved += amounts.get(channel, 0)
                    pool.rearm()
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

    def charge(self, given: int, taken: int, micro_usd: int = 0, extra: int = 0) -> None:
        """Commit one record: its input (`given`) and output (`taken`) tokens, its cost (0 when
        no dollar budget priced it) and `extra` tokens beyond input + output (0 for a record);
        raise if it crossed a limit. `observe` for the hot path: no mapping to build or read,
        the amounts are trusted non-negative (a `Usage`'s counts and a price are).

        The lock stays: two threads charging one pool at once would otherwise lose one
        update (``+=`` on an attribute is a read and a write), and the budget be overspent
        silently. Below a pool's `alarm` a charge only adds; at it, `_look` warns (once) and
        tells a crossing. One flat function: it runs at every budgeted record.
        """
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        amounts = (given + taken + extra, given, taken, micro_usd)
        crossed: _Pool | None = None
        lock = self._lock
        lock.acquire()  # acquire/release: cheaper than `with` on the hot path of every record
        try:
            own = self._own
            own[1] += given
            own[2] += taken
            if micro_usd or extra:
                own[0] += extra
                own[3] += micro_usd
            for pool, slot in self._plan:
                amount = amounts[slot]
                pool.committed += amount
                if pool.committed >= pool.alarm and _look(pool, amount) and crossed is None:
                    crossed = pool
        finally:
            lock.release()
        if crossed is not None:
            raise crossed.exceeded()

    def _charge_tokens(self, given: int, taken: int) -> None:
        """`charge` of a record when every pool of the chain limits tokens: no amounts to
        pick per pool, the record's total goes to each."""
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        tokens = given + taken
        crossed: _Pool | None = None
        lock = self._lock
        lock.acquire()
        try:
            own = self._own
            own[1] += given
            own[2] += taken
            for pool in self._token_plan:
                pool.committed += tokens
                if pool.committed >= pool.alarm and _look(pool, tokens) and crossed is None:
                    crossed = pool
        finally:
            lock.release()
        if crossed is not None:
            raise crossed.exceeded()

    def _release(self, reservation: Reservation) -> None:
        if reservation.settled:
            raise ValueError("this reservation was already settled")
        reservation.settled = True
        for scope in reservation.scope.chain():
            for channel, pool in scope.pools.items():
                pool.reserved -= reservation.amounts.get(channel, 0)
                pool.rearm()

    def _commit(self, spent: Mapping[Channel, int]) -> None:
        """Commit `spent` (a mapping) here and above; raise at the first pool it crossed."""
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        for channel, amount in spent.items():
            if amount < 0:
                raise ValueError(f"spend cannot be negative ({channel.value}: {amount})")
        given, taken = spent.get(Channel.INPUT, 0), spent.get(Channel.OUTPUT, 0)
        extra = spent.get(Channel.TOKENS, 0) - given - taken
        self.charge(given, taken, spent.get(Channel.MICRO_USD, 0), extra)

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
            own = self._own_of(_SLOTS[channel])
            return own + sum(kid.total_spent(channel) for kid in self._kids)

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
                        own=self._own_of(_SLOTS[channel]),
                        children=self.total_spent(channel) - self._own_of(_SLOTS[channel]),
                    )
                )
            return result

    def check(self) -> None:
        """Assert, on every limited channel (for tests and debugging), that the pool holds
        what was spent in this scope and below, and that nothing set aside went negative."""
        for channel, pool in self.pools.items():
            spent = self.total_spent(channel)
            if pool.committed != spent or pool.reserved < 0:
                raise AssertionError(
                    f"{self.name}/{channel}: pool {pool} does not hold the {spent} spent here"
                )


def _look(pool: _Pool, amount: int) -> bool:
    """A charge of `amount` reached `pool`'s alarm: warn if it reached the warn line (once; a
    spend that goes straight to 100% only stops); whether it crossed the limit."""
    if not pool.warned and pool.committed + pool.reserved >= pool.warn_line:
        pool.warned = True
        pool.rearm()
        scope = pool.owner
        if scope.on_warn is not None and pool.committed < pool.total:
            scope.on_warn(scope, pool.channel, pool.committed + pool.reserved, pool.total)
    return bool(amount) and pool.committed >= pool.total
