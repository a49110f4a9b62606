"""Gemini's usage (`usageMetadata`), of a `generateContent` response or a stream of them.

`promptTokenCount` includes `cachedContentTokenCount`, but `candidatesTokenCount` *excludes*
`thoughtsTokenCount`, so thoughts are added to the output; the prompts of built-in tools (search
grounding, URL context, file search) are counted in `toolUsePromptTokenCount`, beside
`promptTokenCount`, and added to the input. Streams repeat `usageMetadata` as snapshots: the
last one wins.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import MissingUsageError
from .base import MISSING, ObservedUsage, Reader, get, items_of

__all__ = ["response", "stream"]


def _candidates(
    r: Reader, meta: Any, prompt: int, tool_use: int | None, thoughts: int | None
) -> int:
    """`candidatesTokenCount`, absent in prompt-only snapshots: the total then says it is 0."""
    candidates = r.count(meta, "usageMetadata.candidatesTokenCount", required=False)
    if candidates is not None:
        return candidates
    total = r.count(meta, "usageMetadata.totalTokenCount")
    if total != prompt + (tool_use or 0) + (thoughts or 0):
        raise r.fail(
            "field 'usageMetadata.candidatesTokenCount' is missing and totalTokenCount "
            f"({total}) does not show it to be 0"
        )
    return 0


def response(payload: Any) -> ObservedUsage:
    """A `generateContent` response (or one stream chunk) with `usageMetadata`."""
    r = Reader(payload, "Gemini generateContent response")
    meta = get(payload, "usageMetadata")
    if meta is MISSING or meta is None:
        raise r.no_usage("field 'usageMetadata' is missing or null", complete=True)
    prompt = r.count(meta, "usageMetadata.promptTokenCount") or 0  # required: raises if absent
    # Built-in tools' prompts (search grounding, URL context, file search): billed as input,
    # counted beside promptTokenCount (and inside totalTokenCount).
    tool_use = r.count(meta, "usageMetadata.toolUsePromptTokenCount", required=False)
    thoughts = r.count(meta, "usageMetadata.thoughtsTokenCount", required=False)
    candidates = _candidates(r, meta, prompt, tool_use, thoughts)
    model = get(payload, "modelVersion")
    reported_total = r.count(meta, "usageMetadata.totalTokenCount", required=False)
    result = r.usage(
        input=prompt + (tool_use or 0),
        output=candidates + (thoughts or 0),
        cache_read=r.count(meta, "usageMetadata.cachedContentTokenCount", required=False),
        reasoning=thoughts,
    )
    return ObservedUsage(
        result,
        model if isinstance(model, str) else None,
        "google",
        "gemini",
        reported_total=reported_total,
        notes=tuple(r.notes),
    )


def stream(items: list[Any]) -> ObservedUsage:
    """Gemini chunks: the last `usageMetadata` snapshot, the model from the last chunk naming it."""
    with_usage = [e for e in items if get(e, "usageMetadata") not in (MISSING, None)]
    if not with_usage:
        finished = any(
            get(candidate, "finishReason") not in (MISSING, None)
            for e in items
            for candidate in items_of(get(e, "candidates"))
        )
        raise MissingUsageError(
            "cannot read usage from a Gemini stream: no chunk carries usageMetadata"
            + (
                " (it finished: a candidate has its finishReason)"
                if finished
                else " (the stream ended before its usage arrived)"
            ),
            complete=finished,
        )
    last = response(with_usage[-1])
    model = last.model or next(
        (
            get(e, "modelVersion")
            for e in reversed(items)
            if isinstance(get(e, "modelVersion"), str)
        ),
        None,
    )
    return replace(last, model=model, kind="gemini.stream")
