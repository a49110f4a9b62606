"""Budgets: a budgeted `record` against an unbudgeted one, and the session ledger's throughput.

    python benchmarks/bench_budget.py [--charges 2000]

(1) `tracker.record(usage=...)` under a test budget (tokens) and a step budget, against the
same call with no budget, in the same run, in interleaved batches; each figure is also given as
a ratio to that baseline (the absolute figures move with the machine's load, the ratios less).
A token-only budget is charged without pricing: the record's input and output counts are added
to the pools of its scope and their ancestors. With ``--cpu`` the batches are timed in this
process's CPU time instead of wall time: on a shared, loaded machine the time the process
waits for a core is then left out (cache and core sharing are not). (2) Charges per second to
the SQLite session ledger from 1 process and from 4 concurrent processes (as pytest -n 4
workers would).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from pytest_tokencost import InMemoryTokenTracker, Usage
from pytest_tokencost.budget import BudgetScope, Channel
from pytest_tokencost.ledger import BudgetLedger

N = 100_000


SPEND = {Channel.TOKENS: 10, Channel.INPUT: 8, Channel.OUTPUT: 2}


def _charge_many(path: str, run_id: str, charges: int, reserve: bool) -> float:
    """`charges` commits, or (reserve=True) reserve + reconcile cycles, to the ledger."""
    ledger = BudgetLedger(Path(path), run_id)
    started = time.perf_counter()
    for _ in range(charges):
        if reserve:
            ledger.reserve(SPEND)
            ledger.reconcile(SPEND, SPEND)
        else:
            ledger.charge(SPEND)
    ledger.close()
    return time.perf_counter() - started


def _interleaved(
    funcs: dict[str, Callable[[], object]], number: int, timer: Callable[[], float]
) -> dict[str, float]:
    """`_timing.interleaved_per_call` (best per-call time, batches alternating round by round)
    with a choice of clock."""
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(15):
        for name, func in funcs.items():
            best[name] = min(best[name], timeit.timeit(func, number=number, timer=timer) / number)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--charges", type=int, default=2_000)
    parser.add_argument("--cpu", action="store_true", help="time in CPU time, not wall time")
    args = parser.parse_args()
    usage = Usage(input=120, output=30)
    plain = InMemoryTokenTracker(test_id="plain")
    budgeted = InMemoryTokenTracker(
        test_id="budgeted", budget=BudgetScope("test", {Channel.TOKENS: 10**15})
    )
    stepped = InMemoryTokenTracker(
        test_id="stepped", budget=BudgetScope("test", {Channel.TOKENS: 10**15})
    )
    # Interleaved batches (see `_timing`): a busy spell of the machine hits all three alike.
    # Each tracker has its own scope, so `stepped` stays inside its step the whole time.
    with stepped.step("agent", max_tokens=10**15):
        best = _interleaved(
            {
                "base": lambda: plain.record(usage=usage),
                "test": lambda: budgeted.record(usage=usage),
                "step": lambda: stepped.record(usage=usage),
            },
            N // 10,
            time.process_time if args.cpu else time.perf_counter,
        )
    base, in_test, in_step = best["base"], best["test"], best["step"]
    print(f"(1) record with a known usage ({'CPU' if args.cpu else 'wall'} time):")
    print(f"  no budget:                 {base * 1e6:7.3f} us  (baseline)")
    print(f"  test budget (tokens):      {in_test * 1e6:7.3f} us  = {in_test / base:.2f}x")
    print(f"  test + step budget:        {in_step * 1e6:7.3f} us  = {in_step / base:.2f}x")
    met = "met" if max(in_test, in_step) < 2e-6 else "NOT met"
    print(f"  target: < 2 us under a test and a step budget ({met})")

    print("(2) session ledger (SQLite, WAL), one operation = one short transaction:")
    for reserve, label in ((False, "commit"), (True, "reserve+reconcile")):
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "ledger.sqlite")
            BudgetLedger.create(Path(path), "bench", dict.fromkeys(SPEND, 10**15)).close()
            single = _charge_many(path, "bench", args.charges, reserve)
            with multiprocessing.Pool(4) as pool:
                started = time.perf_counter()
                pool.starmap(_charge_many, [(path, "bench", args.charges, reserve)] * 4)
                four = time.perf_counter() - started
            (tokens,) = [
                s
                for s in BudgetLedger(Path(path), "bench").statuses()
                if s.channel is Channel.TOKENS
            ]
            assert tokens.used == 10 * args.charges * 5 and tokens.reserved == 0, "lost"
        one_rate, four_rate = args.charges / single, 4 * args.charges / four
        print(
            f"  {label:<18} 1 process: {one_rate:8,.0f}/s ({1e6 / one_rate:.0f} us each); "
            f"4 processes: {four_rate:8,.0f}/s in all ({four_rate / one_rate:.2f}x); "
            "none lost"
        )


if __name__ == "__main__":
    main()
