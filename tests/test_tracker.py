"""The in-memory tracker: recording, scopes, attribution, threads and tasks."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pytest_tokencost import InMemoryTokenTracker, Provenance, TokenTracker, Usage
from pytest_tokencost.budget import BudgetScope, Channel
from pytest_tokencost.summary import NO_STEP


def test_it_satisfies_the_protocol() -> None:
    assert isinstance(InMemoryTokenTracker(), TokenTracker)


def test_records_attribute_to_case_and_nested_steps() -> None:
    tracker = InMemoryTokenTracker(test_id="tests/test_x.py::test_a")
    with tracker.case("case-01"):
        with tracker.step("triage"):
            tracker.record(model="gpt-4o", usage=Usage(input=100, output=10))
            with tracker.step("lookup"):
                tracker.record(model="gpt-4o", usage=Usage(input=50, output=5))
        tracker.record(step="report", model="gpt-4o", prompt="summary please", artifact="done")
    tracker.record(usage=Usage(input=1, output=1))
    records = tracker.records()
    assert [(r.case_id, r.step) for r in records] == [
        ("case-01", "triage"),
        ("case-01", "triage/lookup"),
        ("case-01", "report"),
        (None, None),
    ]
    assert {r.test_id for r in records} == {"tests/test_x.py::test_a"}
    assert [r.seq for r in records] == [0, 1, 2, 3]
    summary = tracker.summary()
    assert summary.by_step["triage"].usage.total == 110
    assert summary.by_step["triage/lookup"].usage.total == 55
    # Each token counts once at every level: steps add up to the case, the case to the test.
    assert sum(t.usage.total for t in summary.by_step.values()) == summary.totals.usage.total
    case = summary.by_case["case-01"]
    assert case.usage.total == summary.totals.usage.total - 2
    assert summary.by_test["tests/test_x.py::test_a"] == summary.totals
    # 2 step scopes + "report" (a step of its own) + the bare record.
    assert summary.totals.steps == 4
    assert summary.by_step[NO_STEP].steps == 1
    assert case.steps == 3


def test_scopes_measure_wall_clock_and_survive_exceptions() -> None:
    tracker = InMemoryTokenTracker()
    with pytest.raises(RuntimeError), tracker.case("c"), tracker.step("boom"):
        tracker.record(usage=Usage(input=5, output=5))
        raise RuntimeError("provider down")
    runs = tracker.scope_runs()
    assert sorted(run.kind for run in runs) == ["case", "step"]
    assert all(run.wall_ms is not None and run.wall_ms >= 0 for run in runs)
    assert tracker.summary().totals.usage.total == 10  # spend before the error is kept
    tracker.record(usage=Usage(input=1))
    assert tracker.records()[-1].step is None  # the scope was closed


def test_usage_with_texts_takes_only_their_sizes() -> None:
    tracker = InMemoryTokenTracker()
    tracker.record(usage=Usage(input=7, output=3), prompt="héllo", artifact="ok")
    (record,) = tracker.records()
    assert (record.prompt_bytes, record.artifact_bytes) == (6, 2)
    assert (record.prompt_tokens, record.artifact_tokens) == (7, 3)
    assert "héllo" not in record.model_dump_json()


def test_text_records_are_counted_or_estimated_and_keep_sizes() -> None:
    tracker = InMemoryTokenTracker()
    tracker.record(model="gpt-4o", prompt="Summarise this ticket.", artifact="Refund it.")
    tracker.record(model="claude-sonnet-4", prompt="x" * 40)
    counted, estimated = tracker.records()
    assert counted.provenance is Provenance.COUNTED
    assert (counted.prompt_bytes, counted.artifact_bytes) == (22, 10)
    assert counted.prompt_tokens == counted.usage.input > 0
    assert estimated.provenance is Provenance.ESTIMATED
    assert (estimated.prompt_tokens, estimated.artifact_tokens) == (10, 0)
    assert estimated.artifact_bytes is None


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, TypeError, "needs usage="),
        ({"usage": Usage(), "artifact": 3}, TypeError, "must be str"),
        ({"usage": {"input": 1}}, TypeError, "use observe"),
        ({"prompt": b"bytes"}, TypeError, "prompt must be a str"),
        ({"usage": Usage(), "step": 3}, TypeError, "step must be a string"),
        ({"usage": Usage(), "model": ["gpt-4o"]}, TypeError, "model must be a string"),
        ({"usage": Usage(), "wall_ms": -1}, ValueError, "wall_ms"),
    ],
)
def test_bad_arguments_fail_the_call_and_record_nothing(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    tracker = InMemoryTokenTracker()
    with pytest.raises(error, match=message):
        tracker.record(**kwargs)  # type: ignore[arg-type]
    assert len(tracker) == 0


@pytest.mark.parametrize("name", ["", None, 3])
def test_scope_names_must_be_non_empty_strings(name: object) -> None:
    with (
        pytest.raises(TypeError, match="non-empty string"),
        InMemoryTokenTracker().step(name),  # type: ignore[arg-type]
    ):
        pass


def test_concurrent_threads_lose_no_record() -> None:
    tracker = InMemoryTokenTracker()
    usage = Usage(input=3, output=2)

    def work() -> None:
        for _ in range(2_000):
            tracker.record(usage=usage)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = tracker.summary()
    assert summary.totals.records == 16_000
    assert summary.totals.usage.total == 80_000
    assert sorted(r.seq for r in tracker.records()) == list(range(16_000))


def test_concurrent_asyncio_tasks_keep_their_own_steps() -> None:
    tracker = InMemoryTokenTracker()

    async def agent(name: str) -> None:
        with tracker.step(name):
            for _ in range(5):
                await asyncio.sleep(0)
                tracker.record(usage=Usage(input=1))

    async def main() -> None:
        await asyncio.gather(agent("planner"), agent("critic"))

    asyncio.run(main())
    by_step = tracker.summary().by_step
    assert (by_step["planner"].records, by_step["critic"].records) == (5, 5)


def test_records_are_priced_once_and_cached() -> None:
    tracker = InMemoryTokenTracker()
    tracker.record(model="gpt-4o", usage=Usage(input=1000, output=100))
    first = tracker.records()
    tracker.record(model="gpt-4o", usage=Usage(input=1000, output=100))
    second = tracker.records()
    assert second[0] is first[0]
    assert second[1].cost_micro_usd == first[0].cost_micro_usd == 3_500


def test_threads_recording_at_once_get_unique_contiguous_indices_and_exact_totals() -> None:
    """Every record is charged under a dollar budget, so each is priced at once and its price
    kept under the index its locked append gave it: a race would give two records one index,
    or a record another's price."""
    tracker = InMemoryTokenTracker(
        budget=BudgetScope("test", {Channel.TOKENS: 10**12, Channel.MICRO_USD: 10**12})
    )
    per_thread = 500
    barrier = threading.Barrier(6)

    def work(k: int) -> None:
        barrier.wait()  # all threads start recording together
        for n in range(per_thread):
            # gpt-4o: $2.50 / M input, $10 / M output -> 2,500 * k + 1,000 micro-USD a record
            tracker.record(
                model="gpt-4o",
                usage=Usage(input=1_000 * k, output=100),
                response_id=f"resp-{k}-{n}",
            )
            tracker.record(
                model="gpt-4o",
                usage=Usage(input=1_000 * k, output=100),
                response_id=f"resp-{k}-{n}",
            )  # the same response again: not counted

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = tracker.records()
    assert [r.seq for r in records] == list(range(6 * per_thread))
    assert tracker.duplicates == 6 * per_thread
    for record in records:
        assert record.cost_micro_usd == 2_500 * (record.usage.input // 1_000) + 1_000
    expected_usd = 500 * (2_500 * 21 + 6 * 1_000)  # k = 1..6 sums to 21: 58,500 a round
    assert tracker.summary().totals.cost_micro_usd == expected_usd
    assert tracker.budget is not None
    pools = tracker.budget.pools
    assert pools[Channel.MICRO_USD].committed == expected_usd
    assert pools[Channel.TOKENS].committed == 500 * (1_000 * 21 + 6 * 100)
    tracker.budget.check()


def test_a_step_made_first_nests_where_it_is_entered() -> None:
    """`step()` checks its arguments when called but takes its place when entered: a step
    made beforehand (or used as a decorator) nests inside the step that is open then."""
    tracker = InMemoryTokenTracker(test_id="t")
    inner = tracker.step("inner", max_tokens=1_000)

    @tracker.step("decorated")
    def decorated() -> None:
        tracker.record(model="gpt-4o", usage=Usage(input=2, output=1))

    with tracker.step("outer"):
        with inner:
            tracker.record(model="gpt-4o", usage=Usage(input=3, output=1))
        decorated()
    decorated()
    assert [record.step for record in tracker.records()] == [
        "outer/inner",
        "outer/decorated",
        "decorated",
    ]
    assert [scope.name for scope in tracker.budget_scopes] == ["step outer/inner"]
