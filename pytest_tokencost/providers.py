"""Read provider responses into normalised `Usage` (the convention of `records.Usage`).

Each provider's numbers are converted exactly once here:

* OpenAI Chat Completions: `prompt_tokens` already includes `cached_tokens`; `completion_tokens`
  already includes `reasoning_tokens`.
* OpenAI Responses: the same, with `input_tokens` / `output_tokens`.
* Anthropic Messages: `input_tokens` *excludes* cache reads and writes, so they are added back.

SDK objects (pydantic models of the `openai` / `anthropic` packages), plain dicts and JSON text are
all accepted; neither SDK is imported. Anything unreadable raises `UnreadablePayloadError` naming
the type and the field; nothing is ever guessed as zero.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UnreadablePayloadError
from .records import Usage

__all__ = ["ObservedUsage", "usage_from"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class ObservedUsage:
    """What a payload says: its usage, the model that answered, and the provider's name."""

    usage: Usage
    model: str | None
    provider: str
    kind: str


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, _MISSING)
    return getattr(obj, key, _MISSING)


class _Reader:
    """Field access with errors that say which payload and which field."""

    def __init__(self, payload: Any, kind: str) -> None:
        self.payload = payload
        self.kind = kind

    def fail(self, message: str) -> UnreadablePayloadError:
        return UnreadablePayloadError(
            f"cannot read usage from {type(self.payload).__name__} ({self.kind}): {message}"
        )

    def section(self, obj: Any, path: str, *, required: bool = True) -> Any:
        value = _get(obj, path.rsplit(".", 1)[-1])
        if value is _MISSING or value is None:
            if required:
                raise self.fail(f"field '{path}' is missing or null")
            return None
        return value

    def count(self, obj: Any, path: str, *, required: bool = True) -> int | None:
        if obj is None:
            if required:
                raise self.fail(f"field '{path}' is missing")
            return None
        value = _get(obj, path.rsplit(".", 1)[-1])
        if value is _MISSING or value is None:
            if required:
                raise self.fail(f"field '{path}' is missing or null")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(
                f"field '{path}' is {value!r} ({type(value).__name__}); expected a non-negative "
                "integer"
            )
        if value < 0:
            raise self.fail(f"field '{path}' is {value}; token counts cannot be negative")
        return value

    def model(self) -> str | None:
        model = _get(self.payload, "model")
        if model is _MISSING or model is None:
            return None
        if not isinstance(model, str):
            raise self.fail(f"field 'model' is {model!r}; expected a string")
        return model

    def usage(
        self,
        input: int | None,
        output: int | None,
        cache_read: int | None = None,
        cache_write: int | None = None,
        reasoning: int | None = None,
    ) -> Usage:
        assert input is not None and output is not None  # required counts raise before this
        try:
            return Usage(
                input=input,
                output=output,
                cache_read=cache_read,
                cache_write=cache_write,
                reasoning=reasoning,
            )
        except ValueError as exc:
            raise self.fail(str(exc)) from exc


def _openai(
    payload: Any, kind: str, label: str, input_name: str, output_name: str
) -> ObservedUsage:
    """OpenAI Chat Completions (`prompt`/`completion`) and Responses (`input`/`output`) usage.

    Both already count cached tokens inside the input and reasoning inside the output.
    """
    r = _Reader(payload, label)
    usage = r.section(payload, "usage")
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
    return ObservedUsage(result, r.model(), "openai", kind)


def _anthropic_message(payload: Any) -> ObservedUsage:
    r = _Reader(payload, "Anthropic message")
    usage = r.section(payload, "usage")
    uncached = r.count(usage, "usage.input_tokens")
    cache_read = r.count(usage, "usage.cache_read_input_tokens", required=False)
    cache_write = r.count(usage, "usage.cache_creation_input_tokens", required=False)
    output_details = r.section(usage, "usage.output_tokens_details", required=False)
    assert uncached is not None
    result = r.usage(
        input=uncached + (cache_read or 0) + (cache_write or 0),
        output=r.count(usage, "usage.output_tokens"),
        cache_read=cache_read,
        cache_write=cache_write,
        # Anthropic bills thinking as output but only sometimes says how much of it there was.
        reasoning=r.count(
            output_details, "usage.output_tokens_details.thinking_tokens", required=False
        ),
    )
    return ObservedUsage(result, r.model(), "anthropic", "anthropic.message")


def _decode(payload: Any) -> Any:
    if isinstance(payload, bytes | bytearray):
        payload = payload.decode("utf-8")
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except json.JSONDecodeError as exc:
            raise UnreadablePayloadError(
                f"cannot read usage from str: it is not JSON ({exc.msg} at line {exc.lineno})"
            ) from exc
    return payload


def usage_from(payload: Any) -> ObservedUsage:
    """Normalised usage, model and provider of one provider response.

    Accepts the OpenAI SDK's `ChatCompletion` and `Response`, the Anthropic SDK's `Message`, their
    plain-dict forms and their JSON text.
    """
    payload = _decode(payload)
    object_type = _get(payload, "object")
    message_type = _get(payload, "type")
    usage = _get(payload, "usage")
    if object_type == "chat.completion" or (
        object_type is _MISSING and _get(usage, "prompt_tokens") is not _MISSING
    ):
        return _openai(payload, "openai.chat", "OpenAI chat completion", "prompt", "completion")
    if object_type == "response":
        return _openai(payload, "openai.responses", "OpenAI Responses response", "input", "output")
    if message_type == "message":
        return _anthropic_message(payload)
    raise UnreadablePayloadError(
        f"cannot read usage from {type(payload).__name__}: not an OpenAI ChatCompletion "
        "(object='chat.completion'), OpenAI Response (object='response') or Anthropic Message "
        "(type='message'); pass usage=Usage(...) to record() instead"
    )
