"""Groq's own usage block: a default chat stream (no ``stream_options``) carries its usage in
the last chunk's ``x_groq.usage``, in OpenAI's field names (and so read as OpenAI's)."""

from __future__ import annotations

from typing import Any

from .base import MISSING, get

__all__ = ["groq_usage"]


def groq_usage(items: list[Any]) -> list[Any]:
    """Each chunk's ``x_groq.usage`` as a chunk of its own with that ``usage``."""
    found = []
    for item in items:
        extra = get(item, "x_groq")
        if extra in (MISSING, None):
            continue
        usage = get(extra, "usage")
        if usage not in (MISSING, None):
            found.append({"usage": usage})
    return found
