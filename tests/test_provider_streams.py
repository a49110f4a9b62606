"""Streams that end unusually, read from realistic event sequences.

An Anthropic `message_delta` may bring no new figure (`usage: {}`); an OpenAI Responses stream
stopped early ends in `response.incomplete` (the response was billed for what it used), and a
failed one in `response.failed`, with usage when the model had run.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_tokencost import InMemoryTokenTracker, Usage
from pytest_tokencost.errors import UnreadablePayloadError
from pytest_tokencost.providers import parse_body, usage_from_body, usage_from_stream


def _anthropic(delta_usage: dict[str, Any], start_usage: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [],
                "usage": start_usage,
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "4"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": delta_usage},
        {"type": "message_stop"},
    ]


START = {
    "input_tokens": 3,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 1217,
    "output_tokens": 4,
}


def test_an_empty_delta_usage_brings_no_new_figures() -> None:
    observed = usage_from_stream(_anthropic({}, START))
    assert observed.usage == Usage(input=1220, output=4, cache_read=1217, cache_write=0)


def test_a_delta_overrides_only_what_it_says() -> None:
    observed = usage_from_stream(_anthropic({"output_tokens": 9}, START))
    assert observed.usage == Usage(input=1220, output=9, cache_read=1217, cache_write=0)


def test_no_output_count_anywhere_is_unreadable_not_an_assertion() -> None:
    start = {key: value for key, value in START.items() if key != "output_tokens"}
    with pytest.raises(UnreadablePayloadError, match="no output_tokens"):
        usage_from_stream(_anthropic({}, start))


def _responses(final: str, usage: dict[str, Any] | None, status: str) -> str:
    """Server-sent events of a Responses stream, as the API sends them."""
    import json

    response: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-5-2025-08-07",
        "status": "in_progress",
        "output": [],
        "usage": None,
    }
    events: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": 0, "response": response},
        {"type": "response.in_progress", "sequence_number": 1, "response": response},
        {
            "type": "response.output_item.added",
            "sequence_number": 2,
            "output_index": 0,
            "item": {"type": "message", "id": "msg_1", "status": "in_progress", "content": []},
        },
        {"type": "response.output_text.delta", "sequence_number": 3, "delta": "The answer"},
    ]
    done = dict(
        response,
        status=status,
        usage=usage,
        incomplete_details={"reason": "max_output_tokens"} if status == "incomplete" else None,
        error={"code": "server_error", "message": "failed"} if status == "failed" else None,
        output=[{"type": "message", "id": "msg_1", "status": status, "content": []}],
    )
    events.append({"type": final, "sequence_number": 4, "response": done})
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


USAGE = {
    "input_tokens": 53,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 469,
    "output_tokens_details": {"reasoning_tokens": 448},
    "total_tokens": 522,
}


@pytest.mark.parametrize(
    ("final", "status"),
    [
        ("response.completed", "completed"),
        ("response.incomplete", "incomplete"),
        ("response.failed", "failed"),
    ],
)
def test_a_responses_stream_ending_early_reports_its_usage(final: str, status: str) -> None:
    observed = usage_from_body(_responses(final, USAGE, status).encode())
    assert observed.usage == Usage(
        input=53, output=469, cache_read=0, reasoning=448, web_searches=0
    )
    assert observed.kind == "openai.responses.stream"
    tracker = InMemoryTokenTracker()  # observe() takes the events as an SDK stream gives them
    tracker.observe(parse_body(_responses(final, USAGE, status)))
    (record,) = tracker.records()
    assert record.provenance.value == "reported" and not record.partial


def test_a_failed_stream_without_usage_is_unreadable() -> None:
    with pytest.raises(UnreadablePayloadError, match="failed without usage"):
        usage_from_body(_responses("response.failed", None, "failed"))
    with pytest.raises(UnreadablePayloadError, match="cut short"):
        usage_from_stream(
            [{"type": "response.created", "response": {"object": "response", "usage": None}}]
        )
