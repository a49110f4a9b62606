"""Exceptions raised by the accounting core.

Every error names the input that was wrong and what to do about it. They are plain Python
exceptions (no pytest import) so `calibrate` and the `tokencost` CLI can raise and catch them.
"""

from __future__ import annotations

__all__ = [
    "MissingUsageError",
    "PriceFileError",
    "ReportFileError",
    "TokenCostError",
    "UnreadablePayloadError",
    "UsageNotReadyError",
    "VocabularyError",
]


class TokenCostError(Exception):
    """Base class of every error pytest-tokencost raises on purpose."""


class UnreadablePayloadError(TokenCostError, TypeError):
    """A provider response (or other usage source) could not be read into a `Usage`."""


class MissingUsageError(UnreadablePayloadError):
    """A provider response that carries no usage, and why: it was cut short, or it is complete.

    `complete` tells the two apart: ``False`` for a stream that ended before its usage arrived
    (truncated: its tokens were spent but never reported), ``True`` for a whole response that
    simply carries none (a chat stream without ``stream_options.include_usage``, a provider
    that sends no usage). `reason` says which, in words fit for a warning.
    """

    def __init__(self, message: str, *, complete: bool) -> None:
        super().__init__(message)
        self.complete = complete

    @property
    def reason(self) -> str:
        """Why there is no usage, in words fit for a warning (truncated or complete)."""
        if self.complete:
            return "the response carries no usage"
        return "the stream ended before its usage arrived"


class UsageNotReadyError(UnreadablePayloadError):
    """A response accepted but not finished: its usage is reported later, not missing.

    An OpenAI Responses call made with ``background: true`` answers ``status: queued`` (or
    ``in_progress``) without usage; the usage comes with the finished response that
    ``GET /v1/responses/{id}`` returns. Nothing is to be recorded or estimated for the first
    answer: the retrieved one is read instead. `response_id` is the id to look for.
    """

    def __init__(self, message: str, *, response_id: str | None) -> None:
        super().__init__(message)
        self.response_id = response_id


class VocabularyError(TokenCostError):
    """A shipped tokenizer vocabulary is missing or does not match its pinned sha256."""


class PriceFileError(TokenCostError):
    """The user's price override file cannot be read or does not validate."""


class ReportFileError(TokenCostError):
    """A `token-report.json` or `records.jsonl` file cannot be read."""
