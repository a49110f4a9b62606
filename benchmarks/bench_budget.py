"""Budgets: a budgeted `record` against an unbudgeted one, and the session ledger's throughput.

    python benchmarks/bench_budget.py [--charges 2000]

(1) `tracker.record(usage=...)` under a test budget (tokens) and a step budget, against the
same call with no budget, in the same run. (2) Charges per second to the SQLite session ledger
from 1 process and from 4 concurrent processes (as pytest -n 4 workers would).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from _timing import per_call_seconds

from pytest_tokencost import InMemoryTokenTracker, Usage
from pytest_tokencost.budget import BudgetScope, Channel
from pytest_tokencost.ledger import BudgetLedger

N = 100_000


def _charge_many(path: str, run_id: str, charges: int) -> float:
    ledger = BudgetLedger(Path(path), run_id)
    started = time.perf_counter()
    for _ in range(charges):
        ledger.charge({Channel.TOKENS: 10, Channel.INPUT: 8, Channel.OUTPUT: 2})
    ledger.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--charges", type=int, default=2_000)
    args = parser.parse_args()
    usage = Usage(input=120, output=30)
    plain = InMemoryTokenTracker(test_id="plain")
    budgeted = InMemoryTokenTracker(
        test_id="budgeted", budget=BudgetScope("test", {Channel.TOKENS: 10**15})
    )
    base = per_call_seconds(lambda: plain.record(usage=usage), N)
    in_test = per_call_seconds(lambda: budgeted.record(usage=usage), N)
    with budgeted.step("agent", max_tokens=10**15):
        in_step = per_call_seconds(lambda: budgeted.record(usage=usage), N)
    print("(1) record with a known usage:")
    print(f"  no budget:                 {base * 1e6:7.3f} us  (baseline)")
    print(f"  test budget (tokens):      {in_test * 1e6:7.3f} us  = {in_test / base:.1f}x")
    print(f"  test + step budget:        {in_step * 1e6:7.3f} us  = {in_step / base:.1f}x")

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "ledger.sqlite")
        limits = {Channel.TOKENS: 10**15, Channel.INPUT: 10**15, Channel.OUTPUT: 10**15}
        BudgetLedger.create(Path(path), "bench", limits).close()
        single = _charge_many(path, "bench", args.charges)
        with multiprocessing.Pool(4) as pool:
            started = time.perf_counter()
            pool.starmap(_charge_many, [(path, "bench", args.charges)] * 4)
            four = time.perf_counter() - started
        ledger = BudgetLedger(Path(path), "bench")
        (tokens,) = [s for s in ledger.statuses() if s.channel is Channel.TOKENS]
        assert tokens.used == 10 * args.charges * 5, "a charge was lost"
    print("(2) session ledger (SQLite, WAL), one charge = one transaction:")
    each_us = single / args.charges * 1e6
    print(f"  1 process:   {args.charges / single:9,.0f} charges/s ({each_us:.0f} us each)")
    print(
        f"  4 processes: {4 * args.charges / four:9,.0f} charges/s in all "
        f"({4 * args.charges / four / (args.charges / single):.2f}x one process); no charge lost"
    )


if __name__ == "__main__":
    main()
