"""The "input excludes cache" convention, in one place and with no dependency (transcripts are
read without importing pydantic).

Anthropic's `input_tokens`, Claude Code's logged usage and Bedrock Converse's `inputTokens` leave
cache reads and writes out of the input; the normalised `Usage.input` holds them.
"""

from __future__ import annotations

__all__ = ["input_with_cache"]


def input_with_cache(uncached: int, cache_read: int | None, cache_write: int | None) -> int:
    """All input tokens of a request whose input count leaves the cache out: the uncached part
    plus cache reads and writes."""
    return uncached + (cache_read or 0) + (cache_write or 0)
