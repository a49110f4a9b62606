"""`Usage`: the normalised counts, their invariants and their arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pytest_tokencost import Usage


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    """Any valid usage, with optional parts sometimes unknown (None)."""
    input_tokens = draw(st.integers(0, 10**12))
    output = draw(st.integers(0, 10**12))
    cache_read = draw(st.none() | st.integers(0, input_tokens))
    cache_write = draw(st.none() | st.integers(0, input_tokens - (cache_read or 0)))
    reasoning = draw(st.none() | st.integers(0, output))
    return Usage(
        input=input_tokens,
        output=output,
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=reasoning,
    )


def test_defaults_are_zero_counts_and_unknown_parts() -> None:
    usage = Usage(input=10, output=5)
    assert (usage.cache_read, usage.cache_write, usage.reasoning) == (None, None, None)
    assert usage.total == 15


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"input": -1}, "greater than or equal to 0"),
        ({"input": "12"}, "valid integer"),
        ({"input": 1.5}, "valid integer"),
        ({"input": True}, "valid integer"),
        ({"output": float("nan")}, "valid integer"),
        ({"input": 10, "cache_read": 8, "cache_write": 3}, "exceed input"),
        ({"output": 10, "reasoning": 11}, "exceeds output"),
        ({"inputs": 3}, "Extra inputs"),
    ],
)
def test_invalid_counts_are_rejected_with_a_clear_message(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Usage(**fields)  # type: ignore[arg-type]


def test_usage_is_immutable() -> None:
    usage = Usage(input=1)
    with pytest.raises(ValidationError):
        usage.input = 2  # type: ignore[misc]


@given(usages(), usages())
def test_addition_sums_counts_and_keeps_unknown_parts_unknown(a: Usage, b: Usage) -> None:
    total = a + b
    assert total.input == a.input + b.input
    assert total.output == a.output + b.output
    for part in ("cache_read", "cache_write", "reasoning"):
        left, right = getattr(a, part), getattr(b, part)
        expected = None if left is None and right is None else (left or 0) + (right or 0)
        assert getattr(total, part) == expected
    # The sum satisfies the invariants too.
    assert Usage.model_validate(total.model_dump()) == total


@given(usages(), usages(), usages())
def test_addition_is_associative_and_commutative(a: Usage, b: Usage, c: Usage) -> None:
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a
