"""Budgets: the conserved pool, nested scopes, and the pytest marker and session budget."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tokencost import InMemoryTokenTracker, Usage
from pytest_tokencost.budget import (
    BudgetScope,
    Channel,
    Status,
    TokenBudgetExceeded,
    limits_from_kwargs,
)

T = Channel.TOKENS


def test_reserve_reconcile_observe_keep_the_pool_conserved() -> None:
    scope = BudgetScope("test", {T: 1_000})
    reservation = scope.reserve({T: 600})
    pool = scope.pools[T]
    assert (pool.free, pool.reserved, pool.committed) == (400, 600, 0)
    scope.reconcile(reservation, {T: 450})  # the call used less than reserved
    assert (pool.free, pool.reserved, pool.committed) == (550, 0, 450)
    with pytest.raises(TokenBudgetExceeded, match="test spent 1,050 of its 1,000 tokens budget"):
        scope.reserve({T: 600})  # refused before any money is spent
    assert (pool.free, pool.reserved) == (550, 0)
    with pytest.raises(TokenBudgetExceeded) as raised:
        scope.observe({T: 700})  # a driver turn that already happened: counted, then stop
    assert (raised.value.scope, raised.value.channel, raised.value.spent, raised.value.limit) == (
        "test",
        T,
        1_150,
        1_000,
    )
    assert pool.free == -150  # negative free is the exhaustion signal
    scope.check()
    with pytest.raises(ValueError, match="already settled"):
        scope.release(reservation)


def test_nested_scopes_count_once_at_every_level_and_split_own_and_children() -> None:
    session = BudgetScope("session", {T: 10_000})
    test = session.child("test", {T: 5_000})
    step = test.child("step", {T: 1_000})
    call = step.child("sub-call")
    test.observe({T: 100})
    with pytest.raises(RuntimeError):
        try:
            call.observe({T: 300})
            raise RuntimeError("provider error after the call was billed")
        finally:
            pass
    step.observe({T: 50})
    assert [s.total_spent(T) for s in (session, test, step, call)] == [450, 450, 350, 300]
    (test_status,) = test.statuses()
    assert (test_status.own, test_status.children, test_status.used) == (100, 350, 450)
    assert session.statuses()[0].children == 450


@pytest.mark.parametrize(
    ("used", "status"),
    [(79, Status.OK), (80, Status.WARN), (99, Status.WARN), (100, Status.EXCEEDED)],
)
def test_status_boundaries(used: int, status: Status) -> None:
    scope = BudgetScope("t", {T: 100})
    try:
        scope.observe({T: used})
    except TokenBudgetExceeded:
        assert used >= 100
    assert scope.statuses()[0].status is status


def test_the_warn_line_is_crossed_once() -> None:
    crossed: list[int] = []
    scope = BudgetScope("t", {T: 100}, on_warn=lambda s, c, used, limit: crossed.append(used))
    for _ in range(9):
        scope.observe({T: 10})
    assert crossed == [80]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_cost": 1}, "unknown budget 'max_cost'; use max_input, max_output"),
        ({"max_tokens": -5}, "max_tokens must be positive"),
        ({"max_tokens": "many"}, "max_tokens must be a number"),
        ({"max_tokens": 1.5}, "whole number of tokens"),
        ({"max_usd": float("nan")}, "max_usd must be a number"),
        ({"max_usd": True}, "max_usd must be a number"),
    ],
)
def test_limits_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        limits_from_kwargs(kwargs, "here")
    assert limits_from_kwargs({"max_usd": 0.05, "max_tokens": 20_000}, "x") == {
        Channel.MICRO_USD: 50_000,
        T: 20_000,
    }


# -- property: random trees and operations ---------------------------------------------------

operations = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "reconcile", "release", "observe"]),
        st.integers(0, 5),  # which scope
        st.integers(0, 400),  # amount
        st.booleans(),  # raise an exception inside the scope afterwards
    ),
    max_size=40,
)


@settings(max_examples=200)
@given(operations, st.lists(st.none() | st.integers(1, 2_000), min_size=6, max_size=6))
def test_random_operations_conserve_and_count_once(
    ops: list[tuple[str, int, int, bool]], limits: list[int | None]
) -> None:
    def limit(i: int) -> dict[Channel, int]:
        return {} if limits[i] is None else {T: limits[i]}  # type: ignore[dict-item]

    root = BudgetScope("session", limit(0))
    scopes = [root, root.child("test", limit(1))]
    scopes += [scopes[1].child("case", limit(2)), scopes[1].child("other-case", limit(3))]
    scopes.append(scopes[2].child("step", limit(4)))
    scopes.append(scopes[4].child("sub-call", limit(5)))
    open_reservations = []
    committed_in = [0] * len(scopes)
    for name, index, amount, fail in ops:
        scope = scopes[index]
        try:
            if name == "reserve":
                open_reservations.append(scope.reserve({T: amount}))
            elif name in ("reconcile", "release") and open_reservations:
                reservation = open_reservations.pop()
                if name == "release":
                    scope.release(reservation)
                else:
                    where = scopes.index(reservation.scope)
                    committed_in[where] += amount
                    reservation.scope.reconcile(reservation, {T: amount})
            elif name == "observe":
                committed_in[index] += amount
                scope.observe({T: amount})
            if fail:
                raise RuntimeError("work failed inside the scope")
        except (TokenBudgetExceeded, RuntimeError):
            pass  # nothing handed up may vanish on the error path
        for each in scopes:
            each.check()
    descendants = {
        0: [0, 1, 2, 3, 4, 5],
        1: [1, 2, 3, 4, 5],
        2: [2, 4, 5],
        3: [3],
        4: [4, 5],
        5: [5],
    }
    for index, scope in enumerate(scopes):
        assert scope.own[T] == committed_in[index]
        assert scope.total_spent(T) == sum(committed_in[i] for i in descendants[index])
        if scope.pools:
            assert scope.pools[T].committed == scope.total_spent(T)


# -- through the tracker and pytest ------------------------------------------------------------


def test_tracker_step_budget_stops_at_the_first_crossing_record() -> None:
    tracker = InMemoryTokenTracker(test_id="t")
    with tracker.step("agent", max_tokens=1_000), pytest.raises(TokenBudgetExceeded):
        for _ in range(10):
            tracker.record(usage=Usage(input=300, output=50))
    assert len(tracker) == 3  # 350, 700, 1,050: the third record crossed and was still kept
    (status,) = tracker.budget_scopes[0].statuses()
    assert (status.used, status.status) == (1_050, Status.EXCEEDED)


BUDGET_SUITE = """
import pytest
from pytest_tokencost import Usage

@pytest.mark.token_budget(max_tokens=100)
@pytest.mark.parametrize("spend", [79, 80, 99, 100])
def test_spend(token_tracker, spend):
    token_tracker.record(usage=Usage(input=spend))
"""


def _report(pytester: pytest.Pytester) -> dict:  # type: ignore[type-arg]
    return json.loads((pytester.path / ".tokencost" / "token-report.json").read_text())


@pytest.mark.usefixtures("wide_terminal")
@pytest.mark.parametrize("workers", ["0", "2"])
def test_warn_and_stop_boundaries_through_pytest(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    """The same under pytest-xdist: budget statuses are plain data in the test's payload."""
    plugin_pytester.makepyfile(
        test_budget=BUDGET_SUITE
        + """
def test_step_budget(token_tracker):
    with token_tracker.step("plan", max_tokens=50):
        token_tracker.record(usage=Usage(input=60))
"""
    )
    result = plugin_pytester.runpytest_subprocess("--cost-report", "-rA", "-n", workers)
    result.assert_outcomes(passed=3, failed=2)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(
        [
            "*TokenBudgetExceeded: token budget exceeded: test test_budget.py::test_spend[[]100[]] "
            "spent 100 of its 100 tokens budget",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*TokenBudgetExceeded: token budget exceeded: step plan spent 60 of its 50 tokens*"]
    )
    out = result.stdout.str()
    assert out.count("TokenBudgetWarning: budget warning:") == 2  # 80 and 99, not 79
    assert "test_spend[79]" not in out.split("warnings summary")[1].split("Token & Cost")[0]
    # Under xdist the budget rows come in the order the tests finished: one line at a time.
    for line in (
        "Budgets:",
        "test test_budget.py::test_spend[[]79[]] * tokens * 100 * 79 * 21 * 79% * ok",
        "test test_budget.py::test_spend[[]80[]] * tokens * 100 * 80 * 20 * 80% * warn",
        "test test_budget.py::test_spend[[]100[]] * tokens * 100 * 100 * 0 * 100% * exceeded",
    ):
        result.stdout.fnmatch_lines([line])
    budgets = _report(plugin_pytester)["budgets"]
    statuses = {b["scope"]: b["status"] for b in budgets}
    assert statuses["test test_budget.py::test_spend[99]"] == "warn"
    assert statuses["step plan"] == "exceeded"
    (step,) = [b for b in budgets if b["scope"] == "step plan"]
    assert (step["test_id"], step["attempt"]) == ("test_budget.py::test_step_budget", 1)
    cli = plugin_pytester.run(
        str(Path(sys.executable).with_name("tokencost")),
        "report",
        str(plugin_pytester.path / ".tokencost" / "token-report.json"),
    )
    cli.stdout.fnmatch_lines(["Budgets:", "test *::test_spend[[]100[]] * 100% * exceeded"])


def test_marker_kwargs_are_validated(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile("""
        import pytest

        @pytest.mark.token_budget(max_cost=5)
        def test_a(token_tracker):
            pass

        @pytest.mark.token_budget(100)
        def test_b(token_tracker):
            pass
    """)
    result = plugin_pytester.runpytest("--strict-markers")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.token_budget on test_marker_kwargs_are_validated.py::test_a: unknown "
            "budget 'max_cost'*",
            "*@pytest.mark.token_budget on *::test_b: takes keyword arguments only*",
        ]
    )
    # one line each, not the plugin's own source
    result.stdout.no_fnmatch_line("*def limits_from_kwargs*")
    result.stdout.no_fnmatch_line("*item_hooks.py*")


def test_an_unpriced_model_under_a_usd_budget_errors_at_setup(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile("""
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.token_budget(max_usd=0.10, models=["gpt-4o", "in-house-7b"])
        def test_declared(token_tracker):
            raise AssertionError("must not run")

        @pytest.mark.token_budget(max_usd=0.10)
        def test_undeclared(token_tracker):
            token_tracker.record(model="in-house-7b", usage=Usage(input=10))
    """)
    result = plugin_pytester.runpytest()
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*UnpricedUnderBudget: @pytest.mark.token_budget on *::test_declared: a USD budget "
            "covers model 'in-house-7b', which has no known price*",
            "*UnpricedUnderBudget: a USD budget covers model 'in-house-7b'*",
        ]
    )
    plugin_pytester.runpytest("--cost-default-rate-unknown", "-k", "undeclared").assert_outcomes(
        passed=1
    )


SESSION_SUITE = """
import pytest
from pytest_tokencost import Usage

@pytest.mark.parametrize("n", range({tests}))
def test_spend(token_tracker, n):
    token_tracker.record(model="gpt-4o", usage=Usage(input=900, output=100))
"""


def test_a_session_budget_stops_the_run(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(test_session=SESSION_SUITE.format(tests=10))
    result = plugin_pytester.runpytest("--cost-budget-tokens=3500", "--cost-report", "-rs")
    # 1,000 tokens a test: three pass (3,000), the fourth crosses (4,000) and fails at once,
    # the six not yet started are not run.
    result.assert_outcomes(passed=3, failed=1, skipped=6)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*budget warning: the session reached 86% of its tokens budget (3,000 of 3,500)*",
            "session * tokens * 3,500 * 4,000 * -500 * 114.29% * exceeded",
            "ERROR: session token budget exhausted: tokens: 4,000 of 3,500 (114.29%); "
            "tests not yet started were not run",
            "*not run: the session token budget is exhausted*",
        ]
    )
    report = _report(plugin_pytester)
    assert report["run"]["exit_status"] == 1
    assert report["summary"]["totals"]["usage"]["input"] == 3_600
    (session,) = [b for b in report["budgets"] if b["scope"] == "session"]
    assert session["used"] == 4_000 == report["summary"]["totals"]["usage"]["input"] + 400


def test_a_usd_session_budget(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(test_session=SESSION_SUITE.format(tests=5))
    # gpt-4o: 900 x $2.50 + 100 x $10 per MTok = 3,250 micro-USD a test.
    result = plugin_pytester.runpytest("--cost-budget-usd=0.01")
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*session spent $0.0130 of its $0.0100 usd budget*"])


@pytest.mark.parametrize("workers", ["4"])
def test_a_session_budget_holds_across_xdist_workers(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    plugin_pytester.makepyfile(test_session=SESSION_SUITE.format(tests=40))
    limit, record, bound = 10_500, 1_000, int(workers)
    result = plugin_pytester.runpytest_subprocess("-n", workers, f"--cost-budget-tokens={limit}")
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes.get("skipped", 0) > 0 and outcomes.get("failed", 0) >= 1
    report = _report(plugin_pytester)
    (session,) = [b for b in report["budgets"] if b["scope"] == "session"]
    recorded = report["summary"]["totals"]["usage"]
    # The ledger's total equals the report's, and overshoot stays within the documented bound:
    # at most one record in flight per worker when the cap was hit.
    assert session["used"] == recorded["input"] + recorded["output"]
    assert limit <= session["used"] < limit + bound * record


def test_the_ledger_reserves_reconciles_and_conserves(tmp_path: Path) -> None:
    from pytest_tokencost.ledger import BudgetLedger

    ledger = BudgetLedger.create(tmp_path / "ledger.sqlite", "run-1", {T: 1_000})
    ledger.reserve({T: 700})
    with pytest.raises(TokenBudgetExceeded, match="session spent 1,100 of its 1,000"):
        ledger.reserve({T: 400})  # refused: nothing reserved
    ledger.reconcile({T: 700}, {T: 650})
    (status,) = ledger.statuses()  # statuses() checks total == free + reserved + committed
    assert (status.used, status.reserved, status.remaining) == (650, 0, 350)
    other = BudgetLedger(tmp_path / "ledger.sqlite", "run-1")  # another process's view
    assert other.charge({T: 100}) == []
    with pytest.raises(TokenBudgetExceeded):
        other.charge({T: 300})
    assert ledger.exhausted() and ledger.statuses()[0].used == 1_050
    stale = BudgetLedger.create(tmp_path / "ledger.sqlite", "run-2", {T: 10})
    assert not stale.exhausted()  # a new run starts a fresh pool


def test_a_tracker_made_during_the_call_still_fails_its_test_over_budget(
    plugin_pytester: pytest.Pytester,
) -> None:
    """The first tracker of a run, made inside the test body (getfixturevalue), where the
    hooks registered with it cannot wrap the call already running."""
    plugin_pytester.makepyfile(
        test_late="""
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.token_budget(max_tokens=100)
        def test_swallowed(request):
            tracker = request.getfixturevalue("token_tracker")
            try:
                tracker.record(usage=Usage(input=150))
            except Exception:
                pass  # an agent loop that swallows every error
        """
    )
    result = plugin_pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*TokenBudgetExceeded: token budget exceeded: test *test_swallowed spent 150 of its 100*"]
    )


def test_a_budget_crossed_in_teardown_is_an_error_of_the_test(
    plugin_pytester: pytest.Pytester,
) -> None:
    """A fixture's clean-up (or a captured stream flushed at teardown) that crosses."""
    plugin_pytester.makepyfile(
        test_cleanup="""
        import pytest
        from pytest_tokencost import Usage

        @pytest.fixture
        def agent(token_tracker):
            yield token_tracker
            try:
                token_tracker.record(usage=Usage(input=150))  # a summarising call at clean-up
            except Exception:
                pass

        @pytest.mark.token_budget(max_tokens=100)
        def test_agent(agent):
            agent.record(usage=Usage(input=10))
        """
    )
    result = plugin_pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*TokenBudgetExceeded: token budget exceeded: test * 160 of *100*"]
    )
