"""Amazon Bedrock's usage, as botocore parses its responses (read by `capture_botocore`).

* ``Converse`` (and the ``metadata`` event of ``ConverseStream``): ``usage`` =
  ``{inputTokens, outputTokens, totalTokens, cacheReadInputTokens, cacheWriteInputTokens}``;
  ``inputTokens`` *excludes* the cache reads and writes (as Anthropic's ``input_tokens`` does;
  ``totalTokens`` adds them back), so they are added to the input (`cache.input_with_cache`).
* ``InvokeModel``: the body is the model's own. An Anthropic model returns the Anthropic message
  (read as Anthropic's); for any other model, Bedrock's own counts are in the
  ``x-amzn-bedrock-input-token-count`` / ``-output-token-count`` headers, and, on the last chunk
  of a streamed invocation, in ``amazon-bedrock-invocationMetrics``. `invoke_payload` gives the
  header counts the shape of those metrics, so one reader (`metrics`) reads both.

Records are the provider ``aws``'s: Bedrock bills the model it was asked for, at its prices.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import UnreadablePayloadError
from ..records import Usage
from .base import MISSING, ObservedUsage, get
from .cache import input_with_cache

__all__ = ["METRICS", "converse", "converse_usage", "invoke_payload", "is_converse", "metrics"]

METRICS = "amazon-bedrock-invocationMetrics"  # on the last chunk of a model's stream
_HEADER_INPUT = "x-amzn-bedrock-input-token-count"
_HEADER_OUTPUT = "x-amzn-bedrock-output-token-count"


def _count(usage: Mapping[str, Any], key: str, *, required: bool) -> int | None:
    value = usage.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UnreadablePayloadError(
            f"cannot read usage from a Bedrock Converse response: field 'usage.{key}' is "
            f"{value!r}; expected a non-negative integer"
        )
    return value


def converse_usage(usage: Any) -> tuple[Usage, int | None]:
    """Normalised `Usage` of a Converse ``usage`` block, and its ``totalTokens`` (the check).

    ``inputTokens`` leaves out the cache reads and writes; they are parts of `Usage.input`.
    """
    if not isinstance(usage, Mapping):
        raise UnreadablePayloadError(
            "cannot read usage from a Bedrock Converse response: no 'usage' block"
        )
    read = _count(usage, "cacheReadInputTokens", required=False)
    write = _count(usage, "cacheWriteInputTokens", required=False)
    uncached = _count(usage, "inputTokens", required=True) or 0
    output = _count(usage, "outputTokens", required=True) or 0
    try:
        normalised = Usage(
            input=input_with_cache(uncached, read, write),
            output=output,
            cache_read=read,
            cache_write=write,
        )
    except ValueError as exc:
        raise UnreadablePayloadError(f"cannot read usage from a Bedrock response: {exc}") from exc
    return normalised, _count(usage, "totalTokens", required=False)


def is_converse(payload: Any) -> bool:
    """Whether `payload` is a Converse response (or ``ConverseStream``'s metadata event)."""
    return get(get(payload, "usage"), "inputTokens") is not MISSING


def converse(payload: Any) -> ObservedUsage:
    """A Converse response's usage (the model is the one the request named)."""
    usage, total = converse_usage(get(payload, "usage"))
    return ObservedUsage(usage, None, "aws", "bedrock.converse", reported_total=total)


def metrics(payload: Any) -> ObservedUsage:
    """Bedrock's own counts (``amazon-bedrock-invocationMetrics``), for models read no other way."""
    found = get(payload, METRICS)
    counts = [get(found, "inputTokenCount"), get(found, "outputTokenCount")]
    read = [v for v in counts if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
    if len(read) != 2:
        raise UnreadablePayloadError(f"'{METRICS}' has no token counts")
    return ObservedUsage(Usage(input=read[0], output=read[1]), None, "aws", "bedrock.invoke_model")


def invoke_payload(raw: bytes, headers: Mapping[str, Any]) -> Any:
    """What an ``InvokeModel`` response says about usage: the Anthropic message it holds, or
    Bedrock's header counts in the shape of ``amazon-bedrock-invocationMetrics``."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, Mapping) and body.get("type") == "message":
        return body
    counts = [headers.get(key) for key in (_HEADER_INPUT, _HEADER_OUTPUT)]
    if not all(isinstance(v, str) and v.isdigit() for v in counts):
        raise UnreadablePayloadError(
            "not an Anthropic message, and no x-amzn-bedrock-*-token-count headers"
        )
    return {
        METRICS: {"inputTokenCount": int(counts[0] or 0), "outputTokenCount": int(counts[1] or 0)}
    }
