"""Budgets on the hot path of `record()`: token-only budgets are charged without pricing, and
the edges of the cheap charge (exact thresholds, warn and stop at once, nested scopes,
threads) keep every rule of the budget."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from pytest_tokencost import InMemoryTokenTracker, Usage
from pytest_tokencost.budget import BudgetScope, Channel, TokenBudgetExceeded
from pytest_tokencost.pricing import Price, Pricer

T, IN, OUT, USD = Channel.TOKENS, Channel.INPUT, Channel.OUTPUT, Channel.MICRO_USD


class _CountingPricer(Pricer):
    """The real pricer, counting how many times a record is priced."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def price(
        self, model: str | None, provider: str | None, usage: Usage, timestamp: datetime
    ) -> Price:
        self.calls += 1
        return super().price(model, provider, usage, timestamp)


def test_token_budgets_never_price_on_record_and_dollar_budgets_price_each_record_once() -> None:
    pricer = _CountingPricer()
    tracker = InMemoryTokenTracker(
        test_id="t", pricer=pricer, budget=BudgetScope("test t", {T: 10_000})
    )
    with tracker.step("agent", max_input=5_000):
        for _ in range(3):
            tracker.record(model="gpt-4o", usage=Usage(input=1_000, output=200))
    assert pricer.calls == 0
    with tracker.step("paid", max_usd=10):
        tracker.record(model="gpt-4o", usage=Usage(input=1_000, output=200))
    assert pricer.calls == 1
    records = tracker.records()  # the one priced at once is not priced again
    assert pricer.calls == 4 and len(records) == 4
    # gpt-4o: $2.50 / $10 per million input / output tokens
    assert records[3].cost_micro_usd == 1_000 * 2.5 + 200 * 10
    assert tracker.budget is not None
    # the test's pool holds its steps' spend; dollars only of the record a dollar budget priced
    assert {ch: tracker.budget.total_spent(ch) for ch in Channel} == {
        T: 4_800,
        IN: 4_000,
        OUT: 800,
        USD: 4_500,
    }
    assert tracker.budget_scopes[2].own == {T: 1_200, IN: 1_000, OUT: 200, USD: 4_500}


def test_a_spend_exactly_at_the_warn_line_warns_and_exactly_at_the_limit_stops() -> None:
    tracker = InMemoryTokenTracker(test_id="t", budget=BudgetScope("test t", {T: 1_000}))
    tracker.record(usage=Usage(input=799))
    assert tracker.warnings == []
    tracker.record(usage=Usage(output=1))  # 800 of 1,000: exactly the warn line
    assert tracker.warnings == [
        "budget warning: test t reached 80% of its tokens budget (800 of 1,000)"
    ]
    tracker.record(usage=Usage(input=199))  # 999: still under
    with pytest.raises(TokenBudgetExceeded) as exc:
        tracker.record(usage=Usage(input=1))  # exactly 1,000: the limit is reached
    assert str(exc.value) == "token budget exceeded: test t spent 1,000 of its 1,000 tokens budget"
    assert len(tracker.warnings) == 1 and tracker.crossed is exc.value
    assert len(tracker) == 4  # the crossing record is kept and counted


def test_a_record_that_crosses_warn_and_stop_at_once_only_stops_and_warns_never_after() -> None:
    tracker = InMemoryTokenTracker(test_id="t", budget=BudgetScope("test t", {T: 100}))
    with pytest.raises(TokenBudgetExceeded, match="test t spent 150 of its 100 tokens"):
        tracker.record(usage=Usage(input=100, output=50))
    with pytest.raises(TokenBudgetExceeded, match="test t spent 160 of its 100 tokens"):
        tracker.record(usage=Usage(output=10))  # every later spend stops again
    tracker.record(usage=Usage())  # a record of no tokens crosses nothing
    assert tracker.warnings == []
    assert tracker.budget is not None
    (status,) = tracker.budget.statuses()
    assert (status.used, status.remaining, status.status) == (160, -60, "exceeded")


def test_a_step_budget_inside_a_case_budget_charges_both_and_names_the_one_crossed() -> None:
    tracker = InMemoryTokenTracker(test_id="t")
    with tracker.case("c1", max_tokens=1_000):
        with tracker.step("plan", max_output=100):
            tracker.record(usage=Usage(input=500, output=90))  # step output 90% -> warns
        assert tracker.warnings == [
            "budget warning: step plan reached 90% of its output budget (90 of 100)"
        ]
        with tracker.step("act", max_tokens=400), pytest.raises(TokenBudgetExceeded) as exc:
            tracker.record(usage=Usage(input=300, output=20))  # case: 910 of 1,000
            tracker.record(usage=Usage(input=100))  # case 1,010: crossed; step 420: crossed
    # the innermost scope that crossed is named; both pools hold the spend
    assert str(exc.value) == "token budget exceeded: step act spent 420 of its 400 tokens budget"
    assert tracker.warnings[1:] == [  # the inner scope first, as the pools are charged
        "budget warning: step act reached 80% of its tokens budget (320 of 400)",
        "budget warning: case c1 reached 91% of its tokens budget (910 of 1,000)",
    ]
    by_scope = {
        (s.scope, s.channel): s for scope in tracker.budget_scopes for s in scope.statuses()
    }
    assert by_scope[("case c1", T)].used == 1_010
    assert (by_scope[("case c1", T)].own, by_scope[("case c1", T)].children) == (0, 1_010)
    assert by_scope[("step plan", OUT)].used == 90
    assert by_scope[("step act", T)].used == 420
    for scope in tracker.budget_scopes:
        scope.check()


def test_a_reservation_moves_the_warn_line_and_giving_it_back_does_not_warn_again() -> None:
    warned: list[int] = []
    scope = BudgetScope("s", {T: 1_000}, on_warn=lambda s, c, used, limit: warned.append(used))
    reservation = scope.reserve({T: 700})
    scope.charge(50, 49)  # 99 + 700 reserved = 799: under the line
    assert warned == []
    scope.charge(1, 0)  # 800 with the reservation: the line
    assert warned == [800]
    scope.release(reservation)
    scope.charge(600, 0)  # 700 committed, warned already
    assert warned == [800]
    assert (scope.pools[T].committed, scope.pools[T].free) == (700, 300)
    scope.check()


def test_observe_of_tokens_alone_and_of_input_alone_count_as_given() -> None:
    scope = BudgetScope("s", {T: 1_000, IN: 1_000})
    scope.observe({T: 450})  # a total with no split
    scope.observe({IN: 5})  # an input with no total
    assert scope.own == {T: 450, IN: 5, OUT: 0, USD: 0}
    assert (scope.pools[T].committed, scope.pools[IN].committed) == (450, 5)
    with pytest.raises(ValueError, match="spend cannot be negative"):
        scope.observe({T: -1})
    scope.check()


def test_threads_charging_one_budget_tree_lose_nothing_and_cross_exactly_once() -> None:
    """The pools are charged under the tree's lock: no update is lost, and a limit equal to
    the whole spend is reached by exactly one record, whichever thread makes it."""
    threads, per_thread, usage = 8, 2_000, Usage(input=120, output=30)
    whole = threads * per_thread * 150
    tracker = InMemoryTokenTracker(test_id="t", budget=BudgetScope("test t", {T: whole}))
    crossings: list[TokenBudgetExceeded] = []
    start = threading.Barrier(threads)

    def work(number: int) -> None:
        # each thread has its own step (scopes follow contextvars), under the one test budget;
        # a step's limit is one token above its spend: it warns, never stops
        with tracker.step(f"worker-{number}", max_tokens=per_thread * 150 + 1):
            start.wait()
            for _ in range(per_thread):
                try:
                    tracker.record(usage=usage)
                except TokenBudgetExceeded as exc:
                    crossings.append(exc)

    runners = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    assert tracker.budget is not None
    assert tracker.budget.pools[T].committed == whole
    assert [str(exc) for exc in crossings] == [
        f"token budget exceeded: test t spent {whole:,} of its {whole:,} tokens budget"
    ]
    steps = tracker.budget_scopes[1:]
    assert [s.pools[T].committed for s in steps] == [per_thread * 150] * threads
    # every warn line was crossed once: the test's and each step's
    assert len([w for w in tracker.warnings if "test t" in w]) == 1
    assert len(tracker.warnings) == threads + 1
    for scope in tracker.budget_scopes:
        scope.check()
