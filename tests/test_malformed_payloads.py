"""Malformed provider payloads never crash and are never silently zeroed (hypothesis)."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_tokencost import InMemoryTokenTracker, Usage
from pytest_tokencost.errors import UnreadablePayloadError
from pytest_tokencost.providers import parse_body, usage_from, usage_from_stream

VALID: list[Any] = [
    {
        "object": "chat.completion",
        "model": "gpt-4o",
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 40},
            "completion_tokens_details": {"reasoning_tokens": 5},
        },
    },
    {
        "object": "response",
        "model": "gpt-5",
        "usage": {
            "input_tokens": 50,
            "output_tokens": 30,
            "input_tokens_details": {"cached_tokens": 10},
            "output_tokens_details": {"reasoning_tokens": 12},
        },
        "cost": 0.01,
    },
    {
        "type": "message",
        "model": "claude-sonnet-4",
        "usage": {
            "input_tokens": 3,
            "output_tokens": 40,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
        },
    },
    {
        "modelVersion": "gemini-2.5-flash",
        "candidates": [],
        "usageMetadata": {
            "promptTokenCount": 9,
            "candidatesTokenCount": 9,
            "thoughtsTokenCount": 34,
            "totalTokenCount": 52,
        },
    },
]
STREAMS: list[list[Any]] = [
    [
        {
            "type": "message_start",
            "message": {
                "model": "claude-sonnet-4",
                "usage": {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 5},
            },
        },
        {"type": "content_block_delta", "delta": {"text": "hi"}},
        {"type": "message_delta", "usage": {"output_tokens": 30, "input_tokens": 12}},
    ],
    [
        {"object": "chat.completion.chunk", "model": "gpt-4o", "choices": [{}], "usage": None},
        {
            "object": "chat.completion.chunk",
            "model": "gpt-4o",
            "choices": [],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3},
        },
    ],
    [
        {"type": "response.created", "response": {"usage": None}},
        {
            "type": "response.completed",
            "response": {
                "object": "response",
                "model": "gpt-5",
                "usage": {"input_tokens": 4, "output_tokens": 6},
            },
        },
    ],
]
BAD_VALUES = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(-(10**6), -1),
    st.just(float("nan")),
    st.just(float("inf")),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(10**18, 10**30),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    payload = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(payload)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(BAD_VALUES)
    return payload


def _check(observed_usage: Usage) -> None:
    # Whatever was accepted satisfies every invariant: no negative, no bogus part.
    assert Usage.model_validate(observed_usage.model_dump()) == observed_usage


@settings(max_examples=300)
@given(st.sampled_from(VALID).flatmap(mutated))
def test_malformed_single_payloads(payload: Any) -> None:
    try:
        observed = usage_from(payload)
    except UnreadablePayloadError as exc:
        assert "cannot read usage from" in str(exc)
    else:
        _check(observed.usage)


@settings(max_examples=300)
@given(st.sampled_from(STREAMS).flatmap(mutated), st.integers(0, 3))
# Found by this test (it used to raise a bare AssertionError): message_start without
# output_tokens, and a message_delta whose usage is empty.
@example(
    [
        {"type": "message_start", "message": {"usage": {"input_tokens": 10}}},
        {"type": "message_delta", "usage": {}},
    ],
    0,
)
def test_malformed_and_truncated_streams(events: list[Any], cut: int) -> None:
    truncated = events[: len(events) - cut] if cut else events
    try:
        observed = usage_from_stream(truncated)
    except UnreadablePayloadError as exc:
        assert "cannot read" in str(exc)
    else:
        _check(observed.usage)


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bodies(body: bytes | str) -> None:
    with contextlib.suppress(UnreadablePayloadError):  # nothing else may escape
        parse_body(body)


def test_a_truncated_anthropic_stream_says_so() -> None:
    tracker = InMemoryTokenTracker()
    events = STREAMS[0][:2]
    try:
        tracker.observe(events)
    except UnreadablePayloadError as exc:
        assert "ended before its message_delta" in str(exc)
    assert len(tracker) == 0


def test_observe_reads_streams_and_keeps_a_reported_cost() -> None:
    tracker = InMemoryTokenTracker()
    assert tracker.observe(STREAMS[0]) == Usage(input=17, output=30, cache_read=5)
    assert tracker.observe(json.dumps(VALID[1])).input == 50
    assert usage_from(VALID[1]).reported_cost_micro_usd is None  # cost must sit in usage
