"""OpenAI's usage: Chat Completions, Responses (background mode and `/responses/compact`
included) and their streams.

Both APIs already count cached tokens inside the input (`prompt_tokens` / `input_tokens`) and
reasoning inside the output (`completion_tokens` / `output_tokens`): nothing is added back.
OpenAI-compatible gateways (OpenRouter) may report their own `usage.cost` in USD, kept as
`reported_cost_micro_usd`. An OpenAI Responses response lists each web search as an `output`
item of type `web_search_call` (usage does not count them): they become `web_searches`.

Background mode: the `POST` answers `status: queued` without usage (`UsageNotReadyError`:
nothing to record yet); the finished response that `GET /v1/responses/{id}` returns carries it.
`/responses/compact` answers a `response.compaction` object with the same `usage` (and, in
OpenAI's own API, no model).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import MissingUsageError, UnreadablePayloadError, UsageNotReadyError
from .base import MISSING, ObservedUsage, Reader, get, items_of, reported_cost
from .groq import groq_usage

__all__ = ["chat", "chat_stream", "compaction", "read", "responses", "responses_stream"]

#: Statuses of an OpenAI Responses response still running (background mode): no usage yet.
_RESPONSES_PENDING = ("queued", "in_progress")

#: The events that end an OpenAI Responses stream with the response's final usage: a response
#: stopped early (`max_output_tokens`, a content filter) ends in `response.incomplete`, and was
#: billed for what it used just the same; a failed one may carry usage too.
_RESPONSES_FINAL = ("response.completed", "response.incomplete", "response.failed")


def read(payload: Any, kind: str, label: str, input_name: str, output_name: str) -> ObservedUsage:
    """Chat Completions (`prompt`/`completion`) or Responses (`input`/`output`) usage."""
    r = Reader(payload, label)
    usage = get(payload, "usage")
    if usage is MISSING or usage is None:
        raise _no_usage(r, payload)
    inp, out = f"usage.{input_name}_tokens", f"usage.{output_name}_tokens"
    input_details = r.section(usage, f"{inp}_details", required=False)
    output_details = r.section(usage, f"{out}_details", required=False)
    result = r.usage(
        input=r.count(usage, inp),
        output=r.count(usage, out),
        cache_read=r.count(input_details, f"{inp}_details.cached_tokens", required=False),
        cache_write=r.count(input_details, f"{inp}_details.cache_write_tokens", required=False),
        reasoning=r.count(output_details, f"{out}_details.reasoning_tokens", required=False),
    )
    total = r.count(usage, "usage.total_tokens", required=False)
    if input_name == "input":  # Responses: web searches are output items, not usage fields
        searches = _web_search_calls(r, payload)
        if searches is not None:
            result = result.model_copy(update={"web_searches": searches})
    return ObservedUsage(
        result,
        r.model(),
        "openai",
        kind,
        reported_cost(r, usage),
        total,
        notes=tuple(r.notes),
    )


def chat(payload: Any) -> ObservedUsage:
    """A Chat Completions response (`object: chat.completion`)."""
    return read(payload, "openai.chat", "OpenAI chat completion", "prompt", "completion")


def responses(payload: Any) -> ObservedUsage:
    """A Responses response (`object: response`)."""
    return read(payload, "openai.responses", "OpenAI Responses response", "input", "output")


def compaction(payload: Any) -> ObservedUsage:
    """A `/responses/compact` answer (`object: response.compaction`)."""
    return read(
        payload, "openai.responses.compact", "OpenAI Responses compaction", "input", "output"
    )


def _no_usage(r: Reader, payload: Any) -> UnreadablePayloadError:
    """The error for an OpenAI-shaped response without usage: not ready yet, or none at all."""
    status = get(payload, "status")
    if get(payload, "object") == "response" and status in _RESPONSES_PENDING:
        response_id = get(payload, "id")
        return UsageNotReadyError(
            f"cannot read usage from {type(payload).__name__} ({r.kind}): the response is "
            f"{status} (background mode); its usage comes with the finished response that "
            f"GET /v1/responses/{{id}} returns",
            response_id=response_id if isinstance(response_id, str) else None,
        )
    return r.no_usage("field 'usage' is missing or null", complete=True)


def _web_search_calls(r: Reader, response: Any) -> int | None:
    """Web searches of an OpenAI Responses response: its `web_search_call` output items.

    `None` when the response carries no `output` list (a usage-only payload cannot say).
    """
    output = get(response, "output")
    if output is MISSING or output is None:
        return None
    if not isinstance(output, list | tuple):
        raise r.fail(f"field 'output' is {type(output).__name__}; expected a list of items")
    return sum(1 for item in output if get(item, "type") == "web_search_call")


def _chat_stream_finished(items: list[Any]) -> bool:
    """Whether a chat stream reached its end: a choice of some chunk has its finish_reason."""
    return any(
        get(choice, "finish_reason") not in (MISSING, None)
        for e in items
        for choice in items_of(get(e, "choices"))
    )


def chat_stream(items: list[Any]) -> ObservedUsage:
    """Chat chunks: the last chunk with usage (`stream_options.include_usage`), or Groq's
    `x_groq` block; the model from any chunk that names it."""
    with_usage = [e for e in items if get(e, "usage") not in (MISSING, None)] or groq_usage(items)
    if not with_usage:
        if _chat_stream_finished(items):
            raise MissingUsageError(
                "cannot read usage from an OpenAI chat stream: it finished (a choice has "
                "its finish_reason) but no chunk carries usage; the provider sends none "
                "unless stream_options.include_usage is set",
                complete=True,
            )
        raise MissingUsageError(
            "cannot read usage from an OpenAI chat stream: it ended before any chunk "
            "carried usage (no choice has a finish_reason: the stream was cut short)",
            complete=False,
        )
    observed = read(
        with_usage[-1], "openai.chat.stream", "OpenAI chat stream chunk", "prompt", "completion"
    )
    if observed.model is None:
        model = next((get(e, "model") for e in items if isinstance(get(e, "model"), str)), None)
        observed = replace(observed, model=model)
    return observed


def responses_stream(items: list[Any]) -> ObservedUsage:
    """Responses events: the final response's usage (`response.completed` and its kin)."""
    final = [e for e in items if get(e, "type") in _RESPONSES_FINAL]
    if not final:
        raise MissingUsageError(
            "cannot read usage from an OpenAI Responses stream without response.completed or "
            "response.incomplete (the stream was cut short)",
            complete=False,
        )
    response = get(final[-1], "response")
    if get(final[-1], "type") == "response.failed" and get(response, "usage") in (MISSING, None):
        raise MissingUsageError(
            "cannot read usage from an OpenAI Responses stream: the response failed without "
            "usage (response.failed)",
            complete=True,
        )
    return read(response, "openai.responses.stream", "OpenAI Responses stream", "input", "output")
