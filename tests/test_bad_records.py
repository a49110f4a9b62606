"""A bad record never costs the good ones: the call raises naming its argument, the test's
other records are kept and reported, and the session goes on."""

from __future__ import annotations

import json

import pytest

from pytest_tokencost import InMemoryTokenTracker, Usage

GOOD = Usage(input=100, output=10)


@pytest.mark.parametrize(
    ("argument", "value", "error", "message"),
    [
        ("provider", 123, TypeError, "provider must be a string, got 123"),
        ("provenance", "bogus", ValueError, "provenance must be one of reported, counted"),
        ("reported_cost_micro_usd", "x", TypeError, "reported_cost_micro_usd must be a non-neg"),
        ("reported_total_tokens", -1, TypeError, "reported_total_tokens must be a non-negative"),
        ("wall_ms", float("inf"), ValueError, "wall_ms must be a finite non-negative number"),
        ("wall_ms", float("nan"), ValueError, "wall_ms must be a finite non-negative number"),
        ("partial", "yes", TypeError, "partial must be True or False"),
        ("response_id", 7, TypeError, "response_id must be a string"),
        ("step", b"triage", TypeError, "step must be a string"),
    ],
)
def test_a_bad_argument_raises_naming_it_and_records_nothing(
    argument: str, value: object, error: type[Exception], message: str
) -> None:
    tracker = InMemoryTokenTracker(test_id="t")
    tracker.record(model="gpt-4o", usage=GOOD)
    with pytest.raises(error, match=message.replace("(", r"\(")):
        tracker.record(model="gpt-4o", usage=GOOD, **{argument: value})
    assert len(tracker) == 1
    assert [r.usage for r in tracker.records()] == [GOOD]


def test_a_test_with_a_bad_record_fails_and_keeps_its_good_records(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(
        test_mixed="""
        from pytest_tokencost import Usage

        def test_mixed(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=100, output=10))
            token_tracker.record(model="gpt-4o", usage=Usage(input=5, output=5), provider=123)

        def test_caught(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=200, output=20))
            try:
                token_tracker.record(model="gpt-4o", usage=Usage(input=1, output=1),
                                     provenance="bogus")
            except ValueError:
                pass
            token_tracker.record(model="gpt-4o", usage=Usage(input=300, output=30))

        def test_after(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=1_000, output=100))
    """
    )
    result = plugin_pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*TypeError: record(): provider must be a string, got 123*"])
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    by_test = report["summary"]["by_test"]
    assert by_test["test_mixed.py::test_mixed"]["usage"]["input"] == 100
    assert by_test["test_mixed.py::test_caught"]["usage"]["input"] == 500
    assert by_test["test_mixed.py::test_after"]["usage"]["input"] == 1_000
    assert report["warnings"] == []


def test_a_payload_that_does_not_validate_is_a_warning_naming_what_was_wrong() -> None:
    from pytest_tokencost.collect import Collector

    collector = Collector()
    collector.add_data({"test_id": "t.py::test_x", "records": [{"seq": "one"}]}, "t.py::test_x")
    (warning,) = collector.warnings
    assert warning.startswith("the records of t.py::test_x could not be read and are left out")
    assert "records.0" in warning
    collector.add_data({"test_id": "t.py::test_y", "error": "ValueError: boom"}, "t.py::test_y")
    assert collector.warnings[-1] == "some records of t.py::test_y could not be exported: " + (
        "ValueError: boom"
    )


def test_a_count_beyond_any_real_request_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="input\n  Input should be less than or equal to 10"):
        Usage(input=10**30, output=5)


def test_a_record_that_cannot_be_priced_is_lost_loudly_and_alone(
    plugin_pytester: pytest.Pytester,
) -> None:
    """A pricing bug (stood in for by a price function that raises for one model): the other
    records of the test are kept, and the run says what it lost, in red and by its exit code."""
    plugin_pytester.makeconftest(
        """
        from pytest_tokencost import pricing

        original = pricing.Pricer.price

        def price(self, model, *args, **kwargs):
            if model == "boom":
                raise ArithmeticError("price table broken")
            return original(self, model, *args, **kwargs)

        pricing.Pricer.price = price
        """
    )
    plugin_pytester.makepyfile(
        test_mixed="""
        from pytest_tokencost import Usage

        def test_mixed(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=100, output=10))
            token_tracker.record(model="boom", usage=Usage(input=5, output=5))
        """
    )
    result = plugin_pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "ERROR: some records of test_mixed.py::test_mixed could not be exported: record 1 "
            "(model 'boom', 10 tokens): ArithmeticError: price table broken"
        ]
    )
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    assert report["summary"]["totals"]["usage"]["input"] == 100
