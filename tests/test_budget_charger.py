"""The budget charger on its own: what one record's spend does to the pools that cover it,
heard through its two callbacks (price, warn)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pytest_tokencost import Usage
from pytest_tokencost.budget import (
    BudgetCharger,
    BudgetScope,
    Channel,
    TokenBudgetExceeded,
    UnpricedUnderBudget,
)

T, USD = Channel.TOKENS, Channel.MICRO_USD


@dataclass(frozen=True)
class _Record:
    """Stands in for the tracker's `Entry`: the three fields the charger reads of a record."""

    usage: Usage
    model: str | None = "gpt-4o"
    late: bool = False


def _charger(
    prices: dict[int, int | None] | None = None,
) -> tuple[BudgetCharger, list[str], list[int]]:
    warnings: list[str] = []
    asked: list[int] = []

    def price(record: object, key: int) -> int | None:
        asked.append(key)
        return (prices or {}).get(key)

    return BudgetCharger(ledger=None, price=price, warn=warnings.append), warnings, asked


def test_token_budgets_are_charged_without_pricing_and_warn_once_through_the_callback() -> None:
    charger, warnings, asked = _charger()
    test = BudgetScope("test t", {T: 1_000}, on_warn=charger.scope_warned)
    step = test.child("step triage", {T: 500})
    charger.root = test
    charger.charge(_Record(Usage(input=300, output=100)), 0, step)  # step 400/500 = 80%
    assert warnings == ["budget warning: step triage reached 80% of its tokens budget (400 of 500)"]
    charger.charge(_Record(Usage(input=50)), 1, None)  # no scope open: the test's
    assert (test.total_spent(T), step.total_spent(T), test.own[T]) == (450, 400, 50)
    with pytest.raises(TokenBudgetExceeded, match="step triage spent 520 of its 500 tokens"):
        charger.charge(_Record(Usage(input=100, output=20)), 2, step)
    assert asked == []  # no dollar budget: nothing priced
    assert isinstance(charger.crossed, TokenBudgetExceeded)
    assert len(warnings) == 1  # the step's warn line is crossed once; the test's (800) not yet
    test.check()
    step.check()


def test_a_late_answer_is_charged_to_the_test_not_to_the_scope_open_now() -> None:
    charger, _, _ = _charger()
    test = BudgetScope("test t", {T: 10_000})
    step = test.child("step other", {T: 100})
    charger.root = test
    charger.charge(_Record(Usage(input=500), late=True), 0, step)
    assert (test.own[T], step.own[T]) == (500, 0)


def test_a_dollar_budget_prices_through_the_callback_and_an_unpriced_record_still_counts() -> None:
    charger, _, asked = _charger(prices={0: 3_500, 1: None})
    test = BudgetScope("test t", {USD: 10_000, T: 100_000})
    charger.root = test
    charger.charge(_Record(Usage(input=1_000, output=100)), 0, None)
    assert test.own[USD] == 3_500 and asked == [0]
    with pytest.raises(UnpricedUnderBudget, match="model 'mystery-model', which has no known"):
        charger.charge(_Record(Usage(input=10), model="mystery-model"), 1, None)
    # its tokens were charged all the same; its dollars are not known
    assert (test.own[T], test.own[USD], asked) == (1_110, 3_500, [0, 1])
    assert isinstance(charger.crossed, UnpricedUnderBudget)
