"""Provider readers: each provider's usage read into normalised `Usage`, exactly once.

One module per provider (`openai`, `anthropic`, `gemini`, `groq`, `bedrock`, `cohere`), what
they share (`base`), the dispatch from a payload, body or stream to its reader (`bodies`),
agent transcripts (`transcripts`), and capture: `capture` (httpx2: `Exchange`, `record_for`),
`capture_httpx`, `capture_botocore`, `capture_all`, `replay`, `hosts` (who served a call, from
its URL), `uncaptured` and `post_import`. Importing this package loads the readers only.

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
