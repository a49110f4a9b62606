"""The budget charger: what one record's spend does to the budgets that cover it.

A tracker hands each record to `BudgetCharger.charge` with the scope open when it was made. The
charger charges the session ledger first (so the session hears of the spend even when a scope
raises), then the scope and its ancestors, and raises the first crossing. Token channels are
charged as counted; the record is priced (through the tracker's `price` callback) only when a
dollar budget covers it, so a token-only budget never prices on the hot path. Warnings, from the
scopes and from the ledger, go to one callback as finished sentences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ..errors import TokenCostError
from .limits import Channel, TokenBudgetExceeded, amount_text, channel_name

if TYPE_CHECKING:
    from ..records import Usage
    from .ledger import BudgetLedger
    from .scope import BudgetScope

__all__ = ["BudgetCharger", "Charged", "UnpricedUnderBudget"]

_TOKENS, _INPUT, _OUTPUT, _USD = Channel.TOKENS, Channel.INPUT, Channel.OUTPUT, Channel.MICRO_USD


class UnpricedUnderBudget(TokenCostError):
    """A USD budget covers a record whose model has no known price."""

    # Shown in failures under the name it has always had (it is also exported there).
    __module__ = "pytest_tokencost.tracker"


class Charged(Protocol):
    """What the charger reads of a record."""

    @property
    def usage(self) -> Usage: ...

    @property
    def model(self) -> str | None: ...

    @property
    def late(self) -> bool: ...


class BudgetCharger:
    """Charges records to budget scopes and the session ledger; reports through callbacks.

    `price(record, key)` gives the record's cost in micro-USD (None when its model has no known
    price); it is called only when a dollar budget covers the record, with the `key` given to
    `charge` (the tracker's index of the record, where it keeps the price). `warn(message)` hears
    every warn line crossed, once per pool.
    """

    def __init__(
        self,
        *,
        ledger: BudgetLedger | None,
        price: Callable[[Charged, int], int | None],
        warn: Callable[[str], None],
    ) -> None:
        self._ledger = ledger
        self._ledger_usd = ledger is not None and ledger.limits_usd
        self._price = price
        self._warn = warn
        #: The test's own scope: charged for records made outside every budgeted scope, and
        #: for late answers (of a step that already ran), whatever scope is open now.
        self.root: BudgetScope | None = None
        #: The first crossing (or unpriceable record under a dollar budget) raised: kept even
        #: when the code under test catches the exception, so the test still fails.
        self.crossed: TokenCostError | None = None

    def scope_warned(self, scope: BudgetScope, channel: Channel, used: int, limit: int) -> None:
        """`BudgetScope.on_warn`: a scope reached its warn line."""
        self._warn(
            f"budget warning: {scope.name} reached {100 * used / limit:.0f}% of its "
            f"{channel_name(channel)} budget ({amount_text(channel, used)} of "
            f"{amount_text(channel, limit)})"
        )

    def charge(self, record: Charged, key: int, scope: BudgetScope | None) -> None:
        """Charge `record` to the ledger and to `scope` (with its ancestors); raise on crossing.

        `scope` is the budget open when the record was made (None: the test's, `root`). Every
        pool is charged before anything is raised; a dollar budget that cannot price the
        record raises `UnpricedUnderBudget` first, then the scope's crossing, then the session's.
        """
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        self.charge_made(record.usage, record.late, scope, record, key)

    def charge_made(
        self, usage: Usage, late: bool, scope: BudgetScope | None, record: Charged, key: int
    ) -> None:
        """`charge`, given the record's usage and lateness: the tracker's call on the hot path
        of every budgeted record, with the two values it holds, not read back from the record.

        Token budgets alone, in this process (no session ledger): the scope adds the counts,
        nothing is priced and no mapping is built.
        """
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        if late or scope is None:
            scope = self.root
        if scope is not None and self._ledger is None and not scope.limits_usd:
            try:
                scope.charge_record(usage.input, usage.output)
            except TokenBudgetExceeded as exc:
                if self.crossed is None:
                    self.crossed = exc
                raise
            return
        self._charge_priced(record, key, scope)

    def _charge_priced(self, record: Charged, key: int, scope: BudgetScope | None) -> None:
        """`charge` when a dollar budget covers the record or the session ledger is open."""
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        usage = record.usage
        given, taken = usage.input, usage.output
        spent = {_TOKENS: given + taken, _INPUT: given, _OUTPUT: taken}
        failure: TokenCostError | None = None
        if self._ledger_usd or (scope is not None and scope.limits_usd):
            failure = self._add_cost(record, key, spent)
        crossed = self._charge_ledger(spent) if self._ledger is not None else None
        if scope is not None:
            try:
                scope.charge(given, taken, spent.get(_USD, 0))
            except TokenBudgetExceeded as exc:
                crossed = exc
        failure = failure or crossed
        if failure is not None:
            if self.crossed is None:
                self.crossed = failure
            raise failure

    def _add_cost(
        self, record: Charged, key: int, spent: dict[Channel, int]
    ) -> UnpricedUnderBudget | None:
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        cost = self._price(record, key)
        if cost is None:
            return UnpricedUnderBudget(
                f"a USD budget covers model {record.model!r}, which has no known price: "
                "add it to a --cost-prices file or pass --cost-default-rate-unknown"
            )
        spent[_USD] = cost
        return None

    def _charge_ledger(self, spent: dict[Channel, int]) -> TokenBudgetExceeded | None:
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        assert self._ledger is not None
        try:
            warnings = self._ledger.charge(spent)
        except TokenBudgetExceeded as exc:
            return exc
        for warning in warnings:
            self._warn(warning)
        return None
