"""Cohere's usage: `/v2/chat` and `/v1/chat` responses and their streams.

Cohere reports two pairs of figures (its v2 API reference, `Usage`):

* `billed_units.input_tokens` / `billed_units.output_tokens`: the tokens Cohere bills;
* `tokens.input_tokens` / `tokens.output_tokens`: the raw counts the model saw, whose input
  includes the prompt template Cohere wraps every request in (a chat of 5 billed input tokens
  shows 71 raw ones), and is not billed.

The reported `input` / `output` are the **billed units**: every price (genai-prices' Cohere
rates) is a price per billed token, so they are the figures whose cost matches Cohere's invoice,
and the tokens a user's own text and answer took. A response without `billed_units` (never seen
from Cohere's API, possible from a proxy) falls back to the raw `tokens`, with a note saying
that the input may then include unbilled template tokens. Cohere names no cache or reasoning
split: those stay `None`.

Where the figures sit: v2 responses in `usage`, v2 streams in the `message-end` event's
`delta.usage`; v1 responses in `meta`, v1 streams (JSON lines) in the `stream-end` event's
`response.meta`. Cohere's v2 response names no model: capture takes it from the request.
"""

from __future__ import annotations

from typing import Any

from ..errors import MissingUsageError
from .base import MISSING, ObservedUsage, Reader, get

__all__ = ["STREAM_EVENTS", "is_cohere", "response", "stream"]

#: Event types of Cohere streams: v2's ``type`` and v1's ``event_type``.
STREAM_EVENTS = frozenset(
    {
        "message-start",
        "content-delta",
        "message-end",
        "stream-start",
        "text-generation",
        "stream-end",
    }
)


def _usage_block(payload: Any) -> tuple[Any, str]:
    """The object holding `billed_units` / `tokens`, and its path: v2's `usage`, v1's `meta`."""
    usage = get(payload, "usage")
    if usage not in (MISSING, None) and _has_units(usage):
        return usage, "usage"
    meta = get(payload, "meta")
    return (meta if meta is not MISSING else None), "meta"


def _has_units(block: Any) -> bool:
    return get(block, "billed_units") is not MISSING or get(block, "tokens") is not MISSING


def is_cohere(payload: Any) -> bool:
    """Whether a response has Cohere's usage shape (`billed_units` or `tokens`)."""
    return any(
        block not in (MISSING, None) and _has_units(block)
        for block in (get(payload, "usage"), get(payload, "meta"))
    )


def _read(r: Reader, block: Any, where: str, kind: str, model: Any) -> ObservedUsage:
    billed = r.section(block, f"{where}.billed_units", required=False)
    units = f"{where}.billed_units"
    if billed is None:
        billed, units = r.section(block, f"{where}.tokens"), f"{where}.tokens"
        r.notes.append(
            f"{r.kind}: no {where}.billed_units; the raw {where}.tokens are recorded, whose "
            "input may include prompt-template tokens Cohere does not bill"
        )
    usage = r.usage(
        input=r.count(billed, f"{units}.input_tokens"),
        output=r.count(billed, f"{units}.output_tokens"),
    )
    return ObservedUsage(
        usage, model if isinstance(model, str) else None, "cohere", kind, notes=tuple(r.notes)
    )


def response(payload: Any) -> ObservedUsage:
    """A Cohere chat response (v2: `usage`; v1: `meta`)."""
    r = Reader(payload, "Cohere chat response")
    block, where = _usage_block(payload)
    if block is None:
        raise r.no_usage("fields 'usage' and 'meta' are missing or null", complete=True)
    return _read(r, block, where, "cohere.chat", get(payload, "model"))


def stream(events: list[Any]) -> ObservedUsage:
    """Cohere stream events: v2's `message-end` (`delta.usage`) or v1's `stream-end`
    (`response.meta`)."""
    for event in reversed(events):
        kind = get(event, "type")
        if kind == "message-end":
            r = Reader(event, "Cohere chat stream")
            delta = r.section(event, "message-end.delta")
            usage = r.section(delta, "message-end.delta.usage")
            return _read(r, usage, "message-end.delta.usage", "cohere.chat.stream", None)
        if get(event, "event_type") == "stream-end":
            r = Reader(event, "Cohere chat stream")
            final = r.section(event, "stream-end.response")
            meta = r.section(final, "stream-end.response.meta")
            return _read(r, meta, "stream-end.response.meta", "cohere.chat.stream", None)
    raise MissingUsageError(
        "cannot read usage from a Cohere chat stream: it ended before its message-end (v2) or "
        "stream-end (v1) event, which carries the usage (the stream was cut short)",
        complete=False,
    )
