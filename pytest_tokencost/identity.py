"""The identity of a provider response: what makes one response count once.

Every provider stamps a response with an id: OpenAI and OpenRouter `id` (``chatcmpl-...``,
``resp_...``, ``gen-...``), Anthropic message `id` (``msg_...``), Gemini `responseId`. Streams
carry it on their chunks or first event. The same response seen twice — by `--cost-capture` and
by `observe()`, or by `observe()` twice — has the same id, and counts once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["response_id_of"]

_MISSING = object()


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, _MISSING)
    return getattr(obj, key, _MISSING)


def _id_of(obj: Any) -> str | None:
    for key in ("id", "responseId"):
        value = _get(obj, key)
        if isinstance(value, str) and value:
            return value
    # Stream events: Anthropic message_start.message, OpenAI Responses response.* events.
    for key in ("message", "response"):
        inner = _get(obj, key)
        if inner is not _MISSING and inner is not None and not isinstance(inner, str):
            value = _get(inner, "id")
            if isinstance(value, str) and value:
                return value
    return None


def response_id_of(payload: Any) -> str | None:
    """The provider's id of a response (object, dict, JSON text, or a list of stream events).

    None when the payload carries no id (a hand-written dict, a provider that sends none):
    such a response cannot be recognised when seen again, and always counts.
    """
    if isinstance(payload, bytes | bytearray):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    if isinstance(payload, list | tuple):
        for event in payload:
            found = response_id_of(event) if isinstance(event, str | bytes) else _id_of(event)
            if found is not None:
                return found
        return None
    return _id_of(payload)
