"""Exceptions raised by the accounting core.

Every error names the input that was wrong and what to do about it. They are plain Python
exceptions (no pytest import) so `calibrate` and the `tokencost` CLI can raise and catch them.
"""

from __future__ import annotations

__all__ = [
    "PriceFileError",
    "ReportFileError",
    "TokenCostError",
    "UnreadablePayloadError",
    "VocabularyError",
]


class TokenCostError(Exception):
    """Base class of every error pytest-tokencost raises on purpose."""


class UnreadablePayloadError(TokenCostError, TypeError):
    """A provider response (or other usage source) could not be read into a `Usage`."""


class VocabularyError(TokenCostError):
    """A shipped tokenizer vocabulary is missing or does not match its pinned sha256."""


class PriceFileError(TokenCostError):
    """The user's price override file cannot be read or does not validate."""


class ReportFileError(TokenCostError):
    """A `token-report.json` or `records.jsonl` file cannot be read."""
