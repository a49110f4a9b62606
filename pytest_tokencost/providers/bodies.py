"""From a payload, a body or a stream to the provider reader that knows it.

`usage_from` and `usage_from_stream` pick the reader from tables (`_PAYLOADS`, `_STREAMS`):
the first entry whose test matches the payload's shape reads it, so a new provider is one row.
`parse_body` turns a raw HTTP body into data: JSON, a JSON array stream (Gemini), JSON lines
(Cohere v1 streams), or server-sent events.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import UnreadablePayloadError
from . import anthropic, bedrock, cohere, gemini, openai
from .base import MISSING, ObservedUsage, decode, get

__all__ = ["parse_body", "usage_from", "usage_from_body", "usage_from_stream"]


def _is_chat(payload: Any, provider: str | None) -> bool:
    kind = get(payload, "object")
    return kind == "chat.completion" or (
        kind is MISSING and get(get(payload, "usage"), "prompt_tokens") is not MISSING
    )


def _has_input_tokens(payload: Any) -> bool:
    return get(get(payload, "usage"), "input_tokens") is not MISSING


#: (does it match `payload` served by `provider`, its reader): the first match reads it.
_PAYLOADS: tuple[tuple[Callable[[Any, str | None], bool], Callable[[Any], ObservedUsage]], ...] = (
    (_is_chat, openai.chat),
    (lambda p, _: get(p, "object") == "response", openai.responses),
    (lambda p, _: get(p, "object") == "response.compaction", openai.compaction),
    (lambda p, _: get(p, "type") == "message", anthropic.message),
    (lambda p, _: get(p, "usageMetadata") is not MISSING, gemini.response),
    (lambda p, _: isinstance(p, list), lambda p: usage_from_stream(p)),
    (lambda p, _: cohere.is_cohere(p), cohere.response),
    (lambda p, _: bedrock.is_converse(p), bedrock.converse),
    (lambda p, _: get(p, bedrock.METRICS) is not MISSING, bedrock.metrics),
    # A payload that does not say what it is, read as its provider's (a message without type).
    (lambda p, who: who == "anthropic" and _has_input_tokens(p), anthropic.message),
    (lambda p, who: who is not None and _has_input_tokens(p), openai.responses),
)


def usage_from(payload: Any, provider: str | None = None) -> ObservedUsage:
    """Normalised usage, model and provider of one provider response (or a list of stream
    chunks/events).

    Accepts the OpenAI SDK's `ChatCompletion` and `Response`, the Anthropic SDK's `Message`,
    Gemini and Cohere responses, Bedrock's (as botocore parses them), their plain-dict forms
    and their JSON text. `provider` names who served the call (``"openrouter"`` for a gateway,
    so that its prices apply) and tells how to read a payload that does not say what it is
    (``"anthropic"`` for a message without ``type``).
    """
    data = decode(payload)
    reader = next((read for matches, read in _PAYLOADS if matches(data, provider)), None)
    if reader is None:
        raise UnreadablePayloadError(
            f"cannot read usage from {type(data).__name__}: not an OpenAI ChatCompletion "
            "(object='chat.completion'), OpenAI Response (object='response'), Anthropic Message "
            "(type='message'), Gemini response (usageMetadata) or Cohere chat response "
            "(billed_units); pass usage=Usage(...) to record() instead"
        )
    observed = reader(data)
    if provider is None or provider == observed.provider:
        return observed
    return replace(observed, provider=provider)


def _event_type(event: Any) -> str:
    """What kind of stream event `event` is ("" when it does not say)."""
    for key in ("type", "event_type"):  # most providers; Cohere v1
        kind = get(event, key)
        if isinstance(kind, str):
            return kind
    if get(event, "object") == "chat.completion.chunk":
        return "chat.completion.chunk"
    if get(event, "usageMetadata") is not MISSING or get(event, "candidates") is not MISSING:
        return "gemini.chunk"
    return ""


#: (do these event kinds make the stream this provider's, its reader): the first match reads.
_STREAMS: tuple[tuple[Callable[[set[str]], bool], Callable[[list[Any]], ObservedUsage]], ...] = (
    (lambda kinds: "chat.completion.chunk" in kinds, openai.chat_stream),
    (lambda kinds: any(kind.startswith("response.") for kind in kinds), openai.responses_stream),
    (lambda kinds: bool(kinds & anthropic.STREAM_EVENTS), anthropic.stream),
    (lambda kinds: "gemini.chunk" in kinds, gemini.stream),
    (lambda kinds: bool(kinds & cohere.STREAM_EVENTS), cohere.stream),
)


def usage_from_stream(events: Any) -> ObservedUsage:
    """Final usage of a streamed response: its chunks or events (SDK objects or dicts).

    OpenAI Chat chunks (with ``stream_options.include_usage``, or Groq's ``x_groq``), OpenAI
    Responses events (usage in ``response.completed``), Anthropic events, Gemini chunks and
    Cohere events. A stream that ended before its usage arrived raises `MissingUsageError`;
    nothing is guessed.
    """
    items = [decode(event) for event in events]
    kinds = {_event_type(event) for event in items} - {""}
    if not items or not kinds:
        raise UnreadablePayloadError("cannot read usage from a stream with no recognisable events")
    for matches, read in _STREAMS:
        if matches(kinds):
            return read(items)
    raise UnreadablePayloadError(f"cannot read usage from a stream of {sorted(kinds)} events")


def _text_of(body: bytes) -> str:
    try:
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        return body.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise UnreadablePayloadError(
            f"cannot read a response body: it is neither UTF-8 nor valid gzip ({exc})"
        ) from exc


def _json_or_lines(text: str) -> Any:
    """A JSON body; or, when it is several JSON values one a line (Cohere v1's stream), their
    list. A body that is neither raises the JSON error."""
    try:
        return decode(text)
    except UnreadablePayloadError as not_json:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            raise
        try:
            return [json.loads(line) for line in lines]
        except json.JSONDecodeError:
            raise not_json from None


def _sse_events(text: str) -> list[Any]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(
            line[5:].lstrip() for line in block.splitlines() if line.startswith("data:")
        )
        if data and data != "[DONE]":
            try:
                events.append(json.loads(data))
            except json.JSONDecodeError as exc:
                raise UnreadablePayloadError(
                    f"cannot read a server-sent event: its data is not JSON ({exc.msg}): "
                    f"{data[:80]!r}"
                ) from exc
    return events


def parse_body(body: bytes | str) -> Any:
    """A raw HTTP response body as data: gunzipped if needed; SSE becomes a list of events.

    JSON bodies give their value (a JSON array is a Gemini stream; JSON lines, Cohere v1's
    stream, their list); server-sent events give the list of their ``data:`` objects, without
    ``[DONE]``.
    """
    text = (_text_of(body) if isinstance(body, bytes) else body).strip()
    if text.startswith(("{", "[")):
        return _json_or_lines(text)
    events = _sse_events(text)
    if not events:
        raise UnreadablePayloadError("cannot read usage from an empty response body")
    return events


def usage_from_body(body: bytes | str) -> ObservedUsage:
    """Usage of a raw HTTP body: JSON, server-sent events, JSON lines or a JSON array stream."""
    data = parse_body(body)
    return usage_from_stream(data) if isinstance(data, list) else usage_from(data)
