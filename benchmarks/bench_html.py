"""(m) Writing the HTML page of a 10,000-record run (2,000 tests), against writing its JSON report.

python benchmarks/bench_html.py

Both are written from the same finished run, to files, atomically, alternating round by round
(best of each). The page includes everything the plugin puts in it: the tables, the cumulative
cost line, and the cache savings (priced again at uncached prices).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _timing import interleaved_per_call

from pytest_tokencost.html import PageInput, write_page
from pytest_tokencost.pricing import Pricer
from pytest_tokencost.records import Provenance, TokenRecord, Usage
from pytest_tokencost.report import PriceInfo, RunInfo, TokenReport
from pytest_tokencost.summary import TokenSummary

TESTS, PER_TEST = 2_000, 5
MODELS = [
    ("gpt-4o", "openai"),
    ("claude-sonnet-4-20250514", "anthropic"),
    ("gpt-4o-mini", "openai"),
    ("in-house-7b", None),
]


def run() -> tuple[TokenReport, list[TokenRecord], Pricer]:
    """A finished run: 2,000 tests of 5 priced records, cache reads on half, one unpriced model."""
    pricer = Pricer()
    start = datetime(2026, 5, 1, 12, tzinfo=UTC)
    records = []
    for t in range(TESTS):
        for s in range(PER_TEST):
            model, provider = MODELS[(t + s) % len(MODELS)]
            usage = Usage(input=2_000 + t, output=300 + s, cache_read=1_024 if s % 2 else 0)
            when = start + timedelta(milliseconds=60 * (t * PER_TEST + s))
            records.append(
                TokenRecord(
                    seq=s,
                    run_id="bench",
                    test_id=f"tests/test_module_{t // 40:03d}.py::test_behaviour_{t:05d}",
                    step=f"step-{s}",
                    provider=provider,
                    model=model,
                    usage=usage,
                    provenance=Provenance.REPORTED,
                    timestamp=when,
                    **pricer.price(model, provider, usage, when).record_fields(),
                )
            )
    report = TokenReport(
        run=RunInfo(
            run_id="bench",
            started=start,
            finished=start + timedelta(minutes=10),
            wall_s=600.0,
            pytest_version="9",
            plugin_version="0.1.0",
            argv=["--cost-report=html"],
        ),
        prices=PriceInfo(genai_prices_version="bench", default_rate="$3/$15 per MTok"),
        summary=TokenSummary.from_records(records),
    )
    return report, records, pricer


def main() -> None:
    report, records, pricer = run()
    folder = Path(tempfile.mkdtemp())
    page = PageInput(report=report, records=records, pricer=pricer)
    write_page(folder / "warm.html", page)  # imports and template compilation, once a process

    def json_report() -> None:
        report.write(folder / "token-report.json")

    def html_page() -> None:
        write_page(folder / "token-report.html", page)

    best = interleaved_per_call({"json": json_report, "html": html_page}, number=1, rounds=7)
    html_size = (folder / "token-report.html").stat().st_size
    json_size = (folder / "token-report.json").stat().st_size
    print(f"{len(records):,} records, {TESTS:,} tests")
    print(
        f"token-report.json write: {best['json'] * 1e3:8.1f} ms  {json_size:>10,} bytes (baseline)"
    )
    print(f"token-report.html write: {best['html'] * 1e3:8.1f} ms  {html_size:>10,} bytes")
    ratio = best["html"] / best["json"]
    print(f"ratio html/json: {ratio:.2f}x time, {html_size / json_size:.2f}x size")
    print(f"target: < 1 s ({best['html']:.2f} s), < 1 MB ({html_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
