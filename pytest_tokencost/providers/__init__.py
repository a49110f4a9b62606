"""Provider readers: each provider's usage read into normalised `Usage`, exactly once.

One module per provider (`openai`, `anthropic`, `gemini`, `groq`, `bedrock`, `cohere`), what
they share (`base`), the dispatch from a payload, body or stream to its reader (`bodies`),
agent transcripts (`transcripts`), and capture: `capture` (httpx2: `Exchange`, `record_for`),
`capture_httpx`, `capture_botocore`, `capture_all`, `replay`, `hosts` (who served a call, from
its URL), `uncaptured` and `post_import`. Importing this package loads nothing: the readers'
names below are imported on first use (`tokencost ingest` reads transcripts without pydantic).

The convention (`records.Usage`, OpenTelemetry's and genai-prices'): `input` is *all* input
tokens, with `cache_read` and `cache_write` as parts of it; `output` is *all* output tokens,
with `reasoning` a part of it. Each provider module's docstring says how its figures map.

SDK objects (pydantic models of the `openai` / `anthropic` packages), plain dicts and JSON text
are all accepted; no SDK is imported. Anything unreadable raises `UnreadablePayloadError`
naming the type and the field; nothing is ever guessed as zero. A response without usage raises
its subclass `MissingUsageError`, which says whether it was cut short or is complete.

Garbage (a negative, non-integer or absurdly large count) is an error. A provider whose figures
contradict each other (OpenRouter reporting 11 reasoning tokens in an output of 10) is kept as
reported: the whole (input, output) stands, the part that cannot be inside it is left `None`,
and `ObservedUsage.notes` says what was inconsistent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .base import ObservedUsage, UsagePart
    from .bodies import parse_body, usage_from, usage_from_body, usage_from_stream

__all__ = [
    "ObservedUsage",
    "UsagePart",
    "parse_body",
    "usage_from",
    "usage_from_body",
    "usage_from_stream",
]

_HOME = {
    "ObservedUsage": "base",
    "UsagePart": "base",
    "parse_body": "bodies",
    "usage_from": "bodies",
    "usage_from_body": "bodies",
    "usage_from_stream": "bodies",
    # The errors the readers raise, importable from here as before the package split.
    "MissingUsageError": ".errors",
    "UnreadablePayloadError": ".errors",
    "UsageNotReadyError": ".errors",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOME, __all__, globals())
