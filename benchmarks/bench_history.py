"""(l) The run history: what appending a run adds to the end of a session, and how fast
`tokencost history --last 20` answers.

    python benchmarks/bench_history.py [--history-runs 1000] [--tests 2000] [--rounds 9]

A history of `--history-runs` runs of `--tests` tests each is built first (one test = one
record, with a step and a model, as a real suite's aggregates are). Then, interleaved round by
round:

1. the end of a session of a `--tests`-test run without history (`RunState.finish`: build the
   report, write and publish it: the baseline) and what the history adds to it (open the
   history, read git, append the run with its per-test, per-step and per-model rows);
2. `tokencost history --last 20` as a subprocess against `python -c pass` (the interpreter's
   own start-up), wall clock and CPU.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _timing import command_times, ratio_lines

from pytest_tokencost.gate_options import HistorySettings
from pytest_tokencost.history import HISTORY_NAME, HistoryStore, RunEntry, entry_from_report
from pytest_tokencost.records import PriceSource, Provenance, TokenRecord, Usage
from pytest_tokencost.run_history import RunHistory
from pytest_tokencost.session import RunState
from pytest_tokencost.settings import Settings


def _records(tests: int) -> list[TokenRecord]:
    now = datetime.now(UTC)
    return [
        TokenRecord(
            seq=0,
            test_id=f"tests/test_mod_{i // 100:03d}.py::test_case_{i}",
            step=f"step-{i % 7}",
            model=("gpt-4o", "gpt-4o-mini", "claude-sonnet-4")[i % 3],
            provider="openai",
            usage=Usage(input=1000 + i, output=100 + i % 50, cache_read=i % 300),
            provenance=Provenance.REPORTED,
            timestamp=now,
            cost_micro_usd=3000 + i,
            input_cost_micro_usd=2000 + i,
            output_cost_micro_usd=1000,
            price_source=PriceSource.GENAI_PRICES,
        )
        for i in range(tests)
    ]


def _state(folder: Path, records: list[TokenRecord]) -> RunState:
    state = RunState(Settings(output_dir=folder), argv=["-q"], pytest_version="bench")
    state.add_records(records)
    return state


def _build_history(folder: Path, records: list[TokenRecord], runs: int) -> None:
    state = _state(folder / "seed", records)
    report = state.build_report(0)
    entry = entry_from_report(report)
    store, _ = HistoryStore.open(folder / HISTORY_NAME)
    started = time.perf_counter()
    for n in range(runs):
        row = entry.row
        store.append(
            RunEntry(type(row)(**{**_fields(row), "run_id": f"seed-{n:05d}"}), entry.aggregates)
        )
    store.close()
    size = (folder / HISTORY_NAME).stat().st_size / 1e6
    print(
        f"built a history of {runs} runs x {len(records)} tests in "
        f"{time.perf_counter() - started:.1f}s ({size:.0f} MB)"
    )


def _fields(row: object) -> dict[str, object]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history-runs", type=int, default=1000)
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    records = _records(args.tests)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / ".tokencost"
        folder.mkdir()
        _build_history(folder, records, args.history_runs)
        finish: list[float] = []
        added: list[float] = []
        finish_cpu: list[float] = []
        added_cpu: list[float] = []
        for n in range(args.rounds):
            # baseline: the end of a session without history, in a folder of its own
            plain = Path(scratch) / f"plain-{n}"
            state = _state(plain, records)
            started, cpu = time.perf_counter(), time.process_time()
            state.finish(0)
            finish.append(time.perf_counter() - started)
            finish_cpu.append(time.process_time() - cpu)
            shutil.rmtree(plain)
            # the same end of session with the history on: what it adds
            state = _state(folder, records)
            history = RunHistory(HistorySettings(), Path(scratch))
            started, cpu = time.perf_counter(), time.process_time()
            history.before_report(state, interrupted=False)
            before = time.perf_counter() - started
            before_cpu = time.process_time() - cpu
            state.finish(0)
            started, cpu = time.perf_counter(), time.process_time()
            history.after_report(state, [])
            added.append(before + time.perf_counter() - started)
            added_cpu.append(before_cpu + time.process_time() - cpu)
            assert not history.warnings and not history.late_warnings, history.warnings
        print(
            f"\nend of session, {args.tests}-test run, {args.rounds} interleaved rounds, in ms "
            "(target: history adds < 50 ms; CPU: this process only, git's subprocess not in it)"
        )
        for name, values in (
            ("finish (baseline)", finish),
            ("history adds", added),
            ("finish, CPU", finish_cpu),
            ("history, CPU", added_cpu),
        ):
            print(
                f"  {name:<18} best {min(values) * 1000:7.1f}  median "
                f"{statistics.median(values) * 1000:7.1f}"
            )
        print(
            f"  history / finish: {statistics.median(added) / statistics.median(finish):.2f}x "
            "(medians)"
        )
        cli = shutil.which("tokencost") or sys.executable
        command = [cli] if cli != sys.executable else [cli, "-m", "pytest_tokencost.cli"]
        times = command_times(
            {
                "python": [sys.executable, "-c", "pass"],
                "history": [*command, "history", "--last", "20", "--dir", str(folder)],
            },
            args.rounds,
        )
        print(
            f"\n`tokencost history --last 20` on {args.history_runs + 2 * args.rounds} runs vs "
            f"`python -c pass`, {args.rounds} interleaved runs, in ms (target: < 300 ms in all)"
        )
        print(ratio_lines(times["python"], times["history"], 1000, "history"))


if __name__ == "__main__":
    main()
