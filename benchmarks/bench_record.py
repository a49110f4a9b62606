"""(a) The cost of one `tracker.record(...)` with a known usage, against appending a tuple.

python benchmarks/bench_record.py
"""

from __future__ import annotations

from _timing import interleaved_per_call

from pytest_tokencost import InMemoryTokenTracker, Usage

N = 200_000


def main() -> None:
    usage = Usage(input=1_200, output=340, cache_read=800)
    plain: list[tuple[str, Usage]] = []
    tracker = InMemoryTokenTracker(test_id="bench::record")

    def baseline() -> None:
        plain.append(("gpt-4o", usage))

    def record() -> None:
        tracker.record(model="gpt-4o", usage=usage)

    best = interleaved_per_call({"base": baseline, "bare": record}, N // 10)
    base, bare = best["base"], best["bare"]
    with tracker.case("case-1"), tracker.step("triage"):
        scoped = interleaved_per_call({"scoped": record}, N // 10)["scoped"]
    print(f"list.append(tuple):            {base * 1e6:7.3f} us  (baseline)")
    print(f"tracker.record(usage=...):     {bare * 1e6:7.3f} us  = {bare / base:5.1f}x baseline")
    print(
        f"  ... inside case + step:      {scoped * 1e6:7.3f} us  = {scoped / base:5.1f}x baseline"
    )
    print(
        f"target: < 2 us absolute ({'met' if max(bare, scoped) < 2e-6 else 'NOT met'}); "
        f"the old contract allowed 1,000 us"
    )


if __name__ == "__main__":
    main()
