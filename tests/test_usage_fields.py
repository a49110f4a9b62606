"""Every usage field the providers send (issue 15): bodies of each shape, read as sent.

Each body is written the way the provider sends it — JSON on several lines, server-sent events,
Gemini's JSON-array stream — with its figures chosen and the expected usage computed by hand:

* Gemini built-in tools (search grounding, URL context, file search) count their prompts in
  `toolUsePromptTokenCount`, beside `promptTokenCount`: input = prompt + tool-use prompt.
* Anthropic compaction reports its own sampling step in `usage.iterations` (`type:
  "compaction"`), outside the top-level figures: its tokens are added; `message` entries are
  already in the top level and are not added again.
* Anthropic's advisor tool reports the advisor model's sub-inference as an `advisor_message`
  iteration naming its model: a record of that model, priced at its rates.
* OpenAI Responses background mode: the POST answers `queued` without usage (nothing to record
  yet); `GET /v1/responses/{id}` gives the finished response and its usage. `/responses/compact`
  answers a `response.compaction` object.
* A provider whose figures contradict each other is kept as reported and flagged.
* A response without usage says whether it was cut short or is complete.

genai-prices is the money oracle: each record's cost equals `genai_prices.calc_price` of its
request alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import genai_prices
import pytest

from pytest_tokencost import InMemoryTokenTracker, Provenance, Usage
from pytest_tokencost.errors import MissingUsageError, UnreadablePayloadError, UsageNotReadyError
from pytest_tokencost.genai_table import genai_usage_counts
from pytest_tokencost.pricing import to_micro_usd
from pytest_tokencost.providers import (
    UsagePart,
    usage_from,
    usage_from_body,
    usage_from_stream,
)

# -- bodies as the providers send them --------------------------------------------------------

#: Gemini 2.5 Flash with Google Search grounding: the search results fed to the model are the
#: tool-use prompt (13,072 tokens) beside the user's 90-token prompt. 90 + 13,072 + 250 + 412.
GEMINI_GROUNDED = {
    "candidates": [
        {
            "content": {
                "parts": [{"text": "The 2024 Nobel Prize in Physics went to ..."}],
                "role": "model",
            },
            "finishReason": "STOP",
            "groundingMetadata": {
                "webSearchQueries": ["nobel prize physics 2024"],
                "groundingChunks": [{"web": {"uri": "https://example.org/a", "title": "a"}}],
            },
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 90,
        "candidatesTokenCount": 250,
        "totalTokenCount": 13824,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 90}],
        "toolUsePromptTokenCount": 13072,
        "toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 13072}],
        "thoughtsTokenCount": 412,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "kT8xaPzLDZ2E1MkP5rSWmQc",
}
GEMINI_GROUNDED_USAGE = Usage(input=90 + 13072, output=250 + 412, reasoning=412)


def _gemini_chunks() -> list[dict[str, Any]]:
    """A URL-context call streamed: snapshots of usage, the last one final (tool use 2,048)."""
    base = {"modelVersion": "gemini-2.5-flash", "responseId": "uRl8aJ3kA4-Y1MkPqJ2Z8Qs"}
    first = {
        **base,
        "candidates": [{"content": {"parts": [{"text": "The page"}], "role": "model"}}],
        "usageMetadata": {
            "promptTokenCount": 31,
            "toolUsePromptTokenCount": 2048,
            "totalTokenCount": 2079 + 120,
            "thoughtsTokenCount": 120,
        },
    }
    last = {
        **base,
        "candidates": [
            {
                "content": {"parts": [{"text": " says hello."}], "role": "model"},
                "finishReason": "STOP",
                "urlContextMetadata": {"urlMetadata": [{"retrievedUrl": "https://x.test"}]},
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 31,
            "candidatesTokenCount": 9,
            "toolUsePromptTokenCount": 2048,
            "thoughtsTokenCount": 120,
            "totalTokenCount": 31 + 2048 + 9 + 120,
        },
    }
    return [first, last]


GEMINI_STREAM_USAGE = Usage(input=31 + 2048, output=9 + 120, reasoning=120)


def _gemini_sse() -> str:
    """`:streamGenerateContent?alt=sse` as sent: one `data:` line per chunk, CRLF separated."""
    return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in _gemini_chunks())


def _gemini_json_array() -> str:
    """`:streamGenerateContent` without `alt=sse`: one JSON array, written on several lines."""
    return "[" + ",\r\n".join(json.dumps(c, indent=2) for c in _gemini_chunks()) + "]"


#: Claude Sonnet 4.6 with server-side compaction: the compaction step read the whole context
#: (100 uncached + 55,096 written to the cache) and wrote a 131-token summary; the answer then
#: ran on the compacted context (3 uncached + 226 read from the cache, 85 out). The top-level
#: figures are those of the `message` iteration only.
COMPACTION_ITERATIONS = [
    {
        "type": "compaction",
        "input_tokens": 100,
        "cache_creation_input_tokens": 55096,
        "cache_read_input_tokens": 0,
        "output_tokens": 131,
    },
    {
        "type": "message",
        "input_tokens": 3,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 226,
        "output_tokens": 85,
    },
]
ANTHROPIC_COMPACTION = {
    "id": "msg_01CompactAbCdEfGhIjKlMn",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [
        {"type": "compaction", "content": "Summary of the conversation so far: ..."},
        {"type": "text", "text": "Continuing from the summary, ..."},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 3,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 226,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 85,
        "service_tier": "standard",
        "iterations": COMPACTION_ITERATIONS,
    },
}
# input: top 3 + 226 + compaction 100 + 55,096; cache read 226; cache write 0 + 55,096.
COMPACTION_USAGE = Usage(
    input=3 + 226 + 100 + 55096,
    output=85 + 131,
    cache_read=226,
    cache_write=55096,
    cache_write_1h=0,
)


def _anthropic_stream_sse(usage_at_end: dict[str, Any], model: str, message_id: str) -> str:
    """An Anthropic stream as sent: `event:` and `data:` lines, the final usage on message_delta."""
    start_usage = {
        "input_tokens": usage_at_end["input_tokens"],
        "cache_creation_input_tokens": usage_at_end["cache_creation_input_tokens"],
        "cache_read_input_tokens": usage_at_end["cache_read_input_tokens"],
        "output_tokens": 1,
    }
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "usage": start_usage,
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Done."},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": usage_at_end,
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def _compaction_sse() -> str:
    return _anthropic_stream_sse(
        {**ANTHROPIC_COMPACTION["usage"]},  # type: ignore[dict-item]
        "claude-sonnet-4-6",
        "msg_01CompactStreamXyZ",
    )


#: Claude Sonnet 4.6 executing, Claude Opus 4.7 advising once: the advisor read the transcript
#: (812 uncached) and wrote 1,530 tokens (its thinking included). The executor's own figures are
#: the top level (two `message` iterations, before and after the advice).
ADVISOR_ITERATIONS = [
    {
        "type": "message",
        "input_tokens": 412,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 38,
    },
    {
        "type": "advisor_message",
        "model": "claude-opus-4-7",
        "input_tokens": 812,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1530,
    },
    {
        "type": "message",
        "input_tokens": 1290,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1192,
    },
]
ANTHROPIC_ADVISOR = {
    "id": "msg_01AdvisorQwErTy",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [
        {"type": "server_tool_use", "id": "srvtoolu_01", "name": "advisor", "input": {}},
        {
            "type": "advisor_tool_result",
            "tool_use_id": "srvtoolu_01",
            "content": {"type": "advisor_result", "text": "PLAN: ..."},
        },
        {"type": "text", "text": "Following the plan, ..."},
    ],
    "stop_reason": "end_turn",
    "usage": {
        "input_tokens": 412 + 1290,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 38 + 1192,
        "server_tool_use": {"web_search_requests": 0},
        "iterations": ADVISOR_ITERATIONS,
    },
}
EXECUTOR_USAGE = Usage(input=1702, output=1230, cache_read=0, cache_write=0, web_searches=0)
ADVISOR_USAGE = Usage(input=812, output=1530, cache_read=0, cache_write=0)


def _response(status: str, usage: dict[str, Any] | None) -> dict[str, Any]:
    """An OpenAI Responses object as the API returns it (background mode)."""
    return {
        "id": "resp_68a1b2c3d4e5f60718293a4b5c6d7e8f",
        "object": "response",
        "created_at": 1755000000,
        "status": status,
        "background": True,
        "error": None,
        "model": "gpt-5-2025-08-07",
        "output": []
        if usage is None
        else [
            {
                "id": "rs_1",
                "type": "reasoning",
                "summary": [],
            },
            {
                "id": "msg_1",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "42", "annotations": []}],
            },
        ],
        "usage": usage,
    }


BACKGROUND_USAGE = {
    "input_tokens": 1840,
    "input_tokens_details": {"cached_tokens": 1024},
    "output_tokens": 2210,
    "output_tokens_details": {"reasoning_tokens": 2176},
    "total_tokens": 4050,
}

COMPACT = {
    "id": "cmp_68a1b2c3d4e5f607",
    "object": "response.compaction",
    "created_at": 1755000100,
    "output": [
        {"id": "msg_2", "type": "message", "role": "user", "content": []},
        {"id": "cmp_item", "type": "compaction", "encrypted_content": "gAAAAB..."},
    ],
    "usage": {
        "input_tokens": 48211,
        "input_tokens_details": {"cached_tokens": 40960},
        "output_tokens": 1802,
        "output_tokens_details": {"reasoning_tokens": 1024},
        "total_tokens": 50013,
    },
}


def _openrouter(reasoning: int) -> dict[str, Any]:
    """An OpenRouter chat completion whose upstream reported more reasoning than output."""
    return {
        "id": "gen-1755000000-AbCdEfGhIjKlMnOp",
        "provider": "Groq",
        "model": "openai/gpt-oss-120b",
        "object": "chat.completion",
        "created": 1755000000,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "4", "reasoning": "2+2"},
            }
        ],
        "usage": {
            "prompt_tokens": 43,
            "completion_tokens": 10,
            "total_tokens": 53,
            "cost": 0.0000094,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
    }


WHEN = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _oracle(model: str, provider: str, usage: Usage) -> int:
    """genai-prices' price of one request, in whole micro-USD."""
    calc = genai_prices.calc_price(
        genai_prices.Usage(**genai_usage_counts(usage)),
        model,
        provider_id=provider,
        genai_request_timestamp=WHEN,
    )
    return to_micro_usd(calc.total_price * 1_000_000)


def _several_lines(payload: Any) -> str:
    """JSON as APIs write it: indented, on several lines, CRLF line ends."""
    return json.dumps(payload, indent=2).replace("\n", "\r\n") + "\r\n"


# -- Gemini toolUsePromptTokenCount ----------------------------------------------------------


def test_gemini_tool_use_prompt_is_input() -> None:
    observed = usage_from_body(_several_lines(GEMINI_GROUNDED).encode())
    assert observed.usage == GEMINI_GROUNDED_USAGE
    assert observed.model == "gemini-2.5-flash"
    # The provider's total now agrees with the sum: no "total check" blames the provider.
    assert observed.reported_total == observed.usage.total == 13824


@pytest.mark.parametrize("body", [_gemini_sse(), _gemini_json_array()], ids=["sse", "json-array"])
def test_gemini_streams_count_the_tool_use_prompt(body: str) -> None:
    observed = usage_from_body(body.encode())
    assert observed.usage == GEMINI_STREAM_USAGE
    assert observed.reported_total == observed.usage.total
    assert (observed.model, observed.kind) == ("gemini-2.5-flash", "gemini.stream")


def test_a_gemini_prompt_only_snapshot_with_tool_use_is_read() -> None:
    # No candidatesTokenCount yet: the total (prompt + tool use + thoughts) shows it to be 0.
    first = _gemini_chunks()[0]
    observed = usage_from(first)
    assert observed.usage == Usage(input=2079, output=120, reasoning=120)


def test_gemini_tool_use_is_priced_as_input() -> None:
    tracker = InMemoryTokenTracker()
    tracker.observe(json.loads(_several_lines(GEMINI_GROUNDED)))
    (record,) = tracker.records()
    assert record.cost_micro_usd == _oracle("gemini-2.5-flash", "google", GEMINI_GROUNDED_USAGE)


# -- Anthropic usage.iterations: compaction ---------------------------------------------------


def test_compaction_iterations_add_to_the_top_level() -> None:
    observed = usage_from_body(_several_lines(ANTHROPIC_COMPACTION))
    assert observed.usage == COMPACTION_USAGE
    assert observed.usage.input == 55425  # the figure the provider billed
    assert observed.parts == () and observed.notes == ()


def test_compaction_in_a_stream_is_read_from_the_last_message_delta() -> None:
    observed = usage_from_body(_compaction_sse().encode())
    assert observed.usage == COMPACTION_USAGE
    assert observed.kind == "anthropic.stream"


def test_message_iterations_alone_are_not_counted_twice() -> None:
    # Iterations of a server-tool loop: the top level already sums them.
    message = json.loads(json.dumps(ANTHROPIC_COMPACTION))
    message["usage"]["iterations"] = [COMPACTION_ITERATIONS[1]]
    assert usage_from(message).usage == Usage(
        input=229, output=85, cache_read=226, cache_write=0, cache_write_1h=0
    )


def test_compaction_is_priced_at_the_requests_model() -> None:
    tracker = InMemoryTokenTracker()
    tracker.observe(ANTHROPIC_COMPACTION)
    (record,) = tracker.records()
    assert record.usage == COMPACTION_USAGE
    assert record.cost_micro_usd == _oracle("claude-sonnet-4-6", "anthropic", COMPACTION_USAGE)


def test_one_hour_compaction_writes_are_kept() -> None:
    message = json.loads(json.dumps(ANTHROPIC_COMPACTION))
    message["usage"]["iterations"][0]["cache_creation"] = {
        "ephemeral_5m_input_tokens": 96,
        "ephemeral_1h_input_tokens": 55000,
    }
    usage = usage_from(message).usage
    assert (usage.cache_write, usage.cache_write_1h) == (55096, 55000)


# -- Anthropic usage.iterations: the advisor ---------------------------------------------------


def test_the_advisor_is_a_part_of_its_own_model() -> None:
    observed = usage_from(_several_lines(ANTHROPIC_ADVISOR))
    assert observed.usage == EXECUTOR_USAGE
    assert observed.model == "claude-sonnet-4-6"
    assert observed.parts == (UsagePart("claude-opus-4-7", ADVISOR_USAGE, "advisor"),)


def test_the_advisor_is_recorded_and_priced_at_its_rates() -> None:
    tracker = InMemoryTokenTracker()
    returned = tracker.observe(ANTHROPIC_ADVISOR, step="plan")
    assert returned == EXECUTOR_USAGE
    executor, advisor = tracker.records()
    assert (executor.model, executor.usage, executor.step) == (
        "claude-sonnet-4-6",
        EXECUTOR_USAGE,
        "plan",
    )
    assert (advisor.model, advisor.usage, advisor.step) == (
        "claude-opus-4-7",
        ADVISOR_USAGE,
        "plan",
    )
    assert advisor.provenance is Provenance.REPORTED
    assert advisor.response_id == "msg_01AdvisorQwErTy#advisor-1"
    assert executor.cost_micro_usd == _oracle("claude-sonnet-4-6", "anthropic", EXECUTOR_USAGE)
    assert advisor.cost_micro_usd == _oracle("claude-opus-4-7", "anthropic", ADVISOR_USAGE)
    # Seen again (capture and observe()): neither part counts twice.
    tracker.observe(ANTHROPIC_ADVISOR)
    assert len(tracker.records()) == 2 and tracker.duplicates == 2


def test_the_advisor_in_a_stream() -> None:
    body = _anthropic_stream_sse(
        {**ANTHROPIC_ADVISOR["usage"]},  # type: ignore[dict-item]
        "claude-sonnet-4-6",
        "msg_01AdvisorStream",
    )
    observed = usage_from_body(body)
    assert observed.usage == EXECUTOR_USAGE
    assert observed.parts == (UsagePart("claude-opus-4-7", ADVISOR_USAGE, "advisor"),)


def test_an_unknown_iteration_type_is_named_not_counted() -> None:
    message = json.loads(json.dumps(ANTHROPIC_COMPACTION))
    message["usage"]["iterations"].append(
        {
            "type": "fallback_message",
            "model": "claude-opus-4-7",
            "input_tokens": 5,
            "output_tokens": 1,
        }
    )
    observed = usage_from(message)
    assert observed.usage == COMPACTION_USAGE
    (note,) = observed.notes
    assert "usage.iterations[2]' is of type 'fallback_message'" in note


@pytest.mark.parametrize(
    ("iteration", "message"),
    [
        ({"type": "compaction", "input_tokens": -1, "output_tokens": 1}, "cannot be negative"),
        ({"type": "compaction", "input_tokens": 1.5, "output_tokens": 1}, r"\(float\)"),
        ({"type": "compaction", "output_tokens": 1}, r"iterations\[0\].input_tokens' is missing"),
        ({"type": "advisor_message", "model": 7, "input_tokens": 1, "output_tokens": 1}, "model"),
        ({"type": "compaction", "input_tokens": 10**16, "output_tokens": 1}, "more than"),
    ],
)
def test_garbage_iterations_stay_errors(iteration: dict[str, Any], message: str) -> None:
    payload = json.loads(json.dumps(ANTHROPIC_COMPACTION))
    payload["usage"]["iterations"] = [iteration]
    tracker = InMemoryTokenTracker()
    with pytest.raises(UnreadablePayloadError, match=message):
        tracker.observe(payload)
    assert len(tracker) == 0


# -- OpenAI Responses background mode and /responses/compact -----------------------------------


def test_a_queued_background_response_has_no_usage_yet() -> None:
    for status in ("queued", "in_progress"):
        with pytest.raises(UsageNotReadyError, match="GET /v1/responses") as caught:
            usage_from_body(_several_lines(_response(status, None)))
        assert caught.value.response_id == "resp_68a1b2c3d4e5f60718293a4b5c6d7e8f"


def test_the_retrieved_background_response_carries_the_usage() -> None:
    observed = usage_from_body(_several_lines(_response("completed", BACKGROUND_USAGE)))
    usage = Usage(input=1840, output=2210, cache_read=1024, reasoning=2176, web_searches=0)
    assert observed.usage == usage
    assert (observed.model, observed.kind, observed.reported_total) == (
        "gpt-5-2025-08-07",
        "openai.responses",
        4050,
    )
    tracker = InMemoryTokenTracker()
    tracker.observe(_response("completed", BACKGROUND_USAGE))
    (record,) = tracker.records()
    assert record.cost_micro_usd == _oracle("gpt-5", "openai", usage)


def test_a_cancelled_background_response_without_usage_is_complete() -> None:
    with pytest.raises(MissingUsageError) as caught:
        usage_from(_response("cancelled", None))
    assert caught.value.complete
    assert caught.value.reason == "the response carries no usage"


def test_a_compaction_response_is_read() -> None:
    observed = usage_from_body(_several_lines(COMPACT))
    assert observed.usage == Usage(
        input=48211, output=1802, cache_read=40960, reasoning=1024, web_searches=0
    )
    # OpenAI's compaction object names no model: capture takes it from the request.
    assert (observed.model, observed.kind, observed.reported_total) == (
        None,
        "openai.responses.compact",
        50013,
    )


# -- inconsistent usage: kept as reported, flagged --------------------------------------------


def test_reasoning_above_output_is_kept_as_reported_and_flagged() -> None:
    observed = usage_from_body(
        _several_lines(_openrouter(11)),
    )
    assert observed.usage == Usage(input=43, output=10, cache_read=0)  # not an estimate
    (note,) = observed.notes
    assert "reasoning tokens (11) exceed the output tokens (10)" in note
    assert "kept as reported" in note


def test_the_flag_reaches_the_warnings_and_the_record_is_reported() -> None:
    tracker = InMemoryTokenTracker()
    usage = tracker.observe(_openrouter(11), provider="openrouter")
    (record,) = tracker.records()
    assert usage == record.usage == Usage(input=43, output=10, cache_read=0)
    assert record.provenance is Provenance.REPORTED and not record.partial
    assert record.reported_cost_micro_usd == 9  # OpenRouter's own cost, kept beside ours
    (warning,) = tracker.warnings
    assert warning.startswith(
        "inconsistent usage in response gen-1755000000-AbCdEfGhIjKlMnOp of openai/gpt-oss-120b"
    )


def test_cache_above_input_is_kept_as_reported_and_flagged() -> None:
    payload = _openrouter(5)
    payload["usage"]["prompt_tokens_details"] = {"cached_tokens": 44}
    observed = usage_from(payload)
    assert observed.usage == Usage(input=43, output=10, reasoning=5)
    assert (
        "cache reads (44) + cache writes (None) exceed the input tokens (43)" in observed.notes[0]
    )


@pytest.mark.parametrize(
    ("reasoning", "message"),
    [(-1, "cannot be negative"), (float("nan"), r"\(float\)"), (10**15 + 1, "more than")],
)
def test_garbage_counts_stay_errors(reasoning: Any, message: str) -> None:
    with pytest.raises(UnreadablePayloadError, match=message):
        usage_from(_openrouter(reasoning))


# -- no usage: cut short, or complete ---------------------------------------------------------


def _chat_sse(*, finished: bool) -> str:
    chunks = [
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
        }
    ]
    if finished:
        chunks.append(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
        )
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
    return body + ("data: [DONE]\n\n" if finished else "")


@pytest.mark.parametrize(
    ("body", "complete"),
    [
        (_chat_sse(finished=True), True),  # stream_options.include_usage not set
        (_chat_sse(finished=False), False),
        (
            _anthropic_stream_sse(ANTHROPIC_COMPACTION["usage"], "m", "msg_1").split(  # type: ignore[arg-type]
                "event: message_delta"
            )[0],
            False,
        ),
        (_gemini_sse().replace('"usageMetadata"', '"usage_"'), True),
        (
            "data: " + json.dumps({**_gemini_chunks()[0], "usageMetadata": None}) + "\n\n",
            False,
        ),
        (_several_lines({"object": "chat.completion", "model": "gpt-4o", "usage": None}), True),
        (_several_lines({**GEMINI_GROUNDED, "usageMetadata": None}), True),
    ],
    ids=[
        "chat-complete",
        "chat-cut",
        "anthropic-cut",
        "gemini-complete",
        "gemini-cut",
        "json",
        "gemini-json",
    ],
)
def test_a_response_without_usage_says_whether_it_was_cut_short(body: str, complete: bool) -> None:
    with pytest.raises(MissingUsageError) as caught:
        usage_from_body(body)
    assert caught.value.complete is complete
    assert caught.value.reason == (
        "the response carries no usage" if complete else "the stream ended before its usage arrived"
    )


def test_a_responses_stream_cut_short_or_failed() -> None:
    created = {"type": "response.created", "response": _response("in_progress", None)}
    with pytest.raises(MissingUsageError) as cut:
        usage_from_stream([created])
    assert not cut.value.complete
    failed = {"type": "response.failed", "response": _response("failed", None)}
    with pytest.raises(MissingUsageError) as whole:
        usage_from_stream([created, failed])
    assert whole.value.complete


# -- end to end: observe() and --cost-capture through pytester --------------------------------


class ShapeServer:
    """Stand-in for the Anthropic and Gemini APIs on 127.0.0.1 (no remote API is reachable).

    Answers `/v1/messages` with the compaction or advisor message (chosen by the request's
    `max_tokens`: 101 compaction, 102 advisor), as indented JSON or — when the request streams —
    as server-sent events sent in 37-byte chunks that cut events (and their JSON) in the middle,
    the way a real connection delivers them; and Gemini's `:generateContent` with the
    search-grounded response. Bodies carry `Content-Length` or chunked transfer, as the APIs do.
    """

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        messages = {101: ANTHROPIC_COMPACTION, 102: ANTHROPIC_ADVISOR}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if ":generateContent" in self.path:
                    self._send(_several_lines(GEMINI_GROUNDED).encode(), "application/json")
                    return
                message = messages[request["max_tokens"]]
                if not request.get("stream"):
                    self._send(_several_lines(message).encode(), "application/json")
                    return
                body = _anthropic_stream_sse(
                    dict(message["usage"]), message["model"], message["id"] + "S"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(body), 37):
                    part = body[start : start + 37]
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ShapeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SHAPES_SUITE = """
import os
import anthropic, httpx2

BASE = os.environ["SHAPES_URL"]
OBSERVE = os.environ["SHAPES_OBSERVE"] == "1"


def an():
    return anthropic.Anthropic(base_url=BASE, api_key="test-key", max_retries=0)


def test_gemini_grounded(token_tracker):
    url = BASE + "/v1beta/models/gemini-2.5-flash:generateContent"
    response = httpx2.Client().post(url, json={"contents": [{"parts": [{"text": "q"}]}]})
    if OBSERVE:
        token_tracker.observe(response.json())


def test_compaction(token_tracker):
    message = an().messages.create(model="claude-sonnet-4-6", max_tokens=101,
                                   messages=[{"role": "user", "content": "go on"}])
    if OBSERVE:
        token_tracker.observe(message)  # the SDK's Message object


def test_compaction_stream(token_tracker):
    with an().messages.create(model="claude-sonnet-4-6", max_tokens=101, stream=True,
                              messages=[{"role": "user", "content": "go on"}]) as stream:
        events = list(stream)
    if OBSERVE:
        token_tracker.observe(events)  # the SDK's stream event objects


def test_advisor(token_tracker):
    message = an().messages.create(model="claude-sonnet-4-6", max_tokens=102,
                                   messages=[{"role": "user", "content": "plan it"}])
    if OBSERVE:
        token_tracker.observe(message)
"""


def _expected_by_model() -> dict[str, tuple[int, Usage, int]]:
    """model -> (records, usage, cost) of one run of SHAPES_SUITE, computed by hand."""
    grounded = _oracle("gemini-2.5-flash", "google", GEMINI_GROUNDED_USAGE)
    compaction = _oracle("claude-sonnet-4-6", "anthropic", COMPACTION_USAGE)
    executor = _oracle("claude-sonnet-4-6", "anthropic", EXECUTOR_USAGE)
    advisor = _oracle("claude-opus-4-7", "anthropic", ADVISOR_USAGE)
    return {
        "gemini-2.5-flash": (1, GEMINI_GROUNDED_USAGE, grounded),
        "claude-sonnet-4-6": (
            3,
            COMPACTION_USAGE + COMPACTION_USAGE + EXECUTOR_USAGE,
            2 * compaction + executor,
        ),
        "claude-opus-4-7": (1, ADVISOR_USAGE, advisor),
    }


@pytest.mark.parametrize(
    ("workers", "recording"),
    [("0", "observe"), ("2", "observe"), ("0", "capture"), ("2", "both")],
)
def test_the_shapes_end_to_end(
    plugin_pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    workers: str,
    recording: str,
) -> None:
    plugin_pytester.makepyfile(test_shapes=SHAPES_SUITE)
    monkeypatch.setenv("SHAPES_OBSERVE", "0" if recording == "capture" else "1")
    args = ["-p", "no:cacheprovider", "-n", workers, "--cost-report=term"]
    if recording != "observe":
        args.append("--cost-capture")
    with ShapeServer() as server:
        monkeypatch.setenv("SHAPES_URL", server.url)
        result = plugin_pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=4)
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    by_model = report["summary"]["by_model"]
    expected = _expected_by_model()
    assert sorted(by_model) == sorted(expected)
    for model, (records, usage, cost) in expected.items():
        row = by_model[model]
        assert row["records"] == records, model
        assert Usage(**row["usage"]) == usage, model
        assert row["cost_micro_usd"] == cost, model
    totals = report["summary"]["totals"]
    assert totals["usage"]["input"] == 13162 + 2 * 55425 + 1702 + 812
    assert totals["cost_micro_usd"] == sum(cost for _, _, cost in expected.values())
    assert report["total_checks"] == []  # Gemini's own total agrees with the sum now
    assert not [w for w in report["warnings"] if "inconsistent" in w or "capture" in w]


def test_a_budget_crossed_by_the_executor_still_records_the_advisor() -> None:
    from pytest_tokencost.budget import TokenBudgetExceeded

    tracker = InMemoryTokenTracker(test_id="t")
    with pytest.raises(TokenBudgetExceeded), tracker.step("plan", max_tokens=1000):
        tracker.observe(ANTHROPIC_ADVISOR)
    executor, advisor = tracker.records()  # both spent: neither is lost to the exception
    assert (executor.usage, advisor.usage) == (EXECUTOR_USAGE, ADVISOR_USAGE)
    assert isinstance(tracker.crossed, TokenBudgetExceeded)


# -- Groq: a default chat stream's usage in x_groq --------------------------------------------


def _groq_stream() -> str:
    """A Groq chat stream asked without stream_options: usage only in the last chunk's x_groq,
    with Groq's timing fields (floats) beside OpenAI's counts; events split as SSE."""
    base = {"id": "chatcmpl-g1", "object": "chat.completion.chunk", "created": 1755000000}
    base["model"] = "llama-3.3-70b-versatile"
    chunks = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
            "x_groq": {"id": "req_01"},
        },
        {**base, "choices": [{"index": 0, "delta": {"content": "Refunds take 5 days."}}]},
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "x_groq": {
                "id": "req_01",
                "usage": {
                    "queue_time": 0.0191,
                    "prompt_tokens": 24,
                    "prompt_time": 0.0012,
                    "completion_tokens": 7,
                    "completion_time": 0.0254,
                    "total_tokens": 31,
                    "total_time": 0.0266,
                },
            },
        },
    ]
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def test_a_groq_default_stream_is_read_from_x_groq() -> None:
    observed = usage_from_body(_groq_stream())
    assert observed.usage.input == 24 and observed.usage.output == 7
    assert (observed.model, observed.reported_total) == ("llama-3.3-70b-versatile", 31)
    assert observed.usage.total == observed.reported_total  # the provider's total agrees
