"""(l) What a record costs after `record()`: exporting a test's tracker into its payload (pricing
and the plain JSON documents, built without a model, in the process that ran the test), and
collecting it (in the process that
writes: the `records.jsonl` line, and validation when the payload travelled from an xdist
worker), per record, against `json.dumps` of the same record's plain data (the least any export
could cost).

python benchmarks/bench_export.py
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_tokencost import InMemoryTokenTracker, Usage
from pytest_tokencost.collect import Collector
from pytest_tokencost.payload import export_data
from pytest_tokencost.pricing import Pricer
from pytest_tokencost.runfiles import RunFiles
from pytest_tokencost.session import record_line

RECORDS = 200  # one test's records; prices of each model resolved once per run, as in a run
ROUNDS = 15
MODELS = ["gpt-4o", "claude-sonnet-4", "gpt-4o-mini", None]
PRICER = Pricer()  # one per run, as RunState keeps it: each model is resolved once


def _tracker() -> InMemoryTokenTracker:
    tracker = InMemoryTokenTracker(test_id="bench::export", run_id="bench", pricer=PRICER)
    with tracker.case("case-1"), tracker.step("triage"):
        for n in range(RECORDS):
            tracker.record(
                model=MODELS[n % len(MODELS)],
                usage=Usage(input=1_000 + n, output=100 + n, cache_read=n),
                response_id=f"resp-{n}",
            )
    return tracker


def main() -> None:
    _tracker().records()  # load genai-prices and resolve the models once, as a run's first test
    plain = [r.model_dump(mode="json") for r in _tracker().records()]
    best = dict.fromkeys(("base", "export", "collect", "collect xdist"), float("inf"))
    with tempfile.TemporaryDirectory() as folder:
        files = RunFiles(Path(folder), "bench")

        def append(records: list[Any]) -> None:
            files.append_records([record_line(record) for record in records])

        for _ in range(ROUNDS):
            started = time.perf_counter()
            for data in plain:
                json.dumps(data)
            best["base"] = min(best["base"], time.perf_counter() - started)

            tracker = _tracker()
            started = time.perf_counter()
            data = export_data(tracker)
            best["export"] = min(best["export"], time.perf_counter() - started)

            collector = Collector(append)
            collector.expect(data)
            started = time.perf_counter()
            collector.add_data(data, "bench::export")  # made in this process: not re-validated
            best["collect"] = min(best["collect"], time.perf_counter() - started)

            travelled = json.loads(json.dumps(data))  # as it arrives from an xdist worker
            collector = Collector(append)
            started = time.perf_counter()
            collector.add_data(travelled, "bench::export")
            best["collect xdist"] = min(best["collect xdist"], time.perf_counter() - started)
        files.close()
    base = best["base"] / RECORDS
    print(f"json.dumps of a record's data:       {base * 1e6:8.2f} us  (baseline)")
    for name, label in (
        ("export", "export (price + payload)"),
        ("collect", "collect (+ jsonl)"),
        ("collect xdist", "collect from a worker (validated)"),
    ):
        each = best[name] / RECORDS
        print(f"{label + ':':<36} {each * 1e6:8.2f} us  = {each / base:5.1f}x baseline")


if __name__ == "__main__":
    main()
