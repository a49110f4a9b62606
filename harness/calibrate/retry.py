"""Retrying an HTTP request that a provider answered with "too many requests" or a server error.

Providers answer 429 when a rate limit is hit and 5xx when they are overloaded or failing;
both usually pass within seconds. `open_with_retries` waits and tries again: the server's
``Retry-After`` (seconds or an HTTP date) when it sends one, else an exponential backoff
(`base_s`, twice that, four times, ... at most `max_delay_s`). It is bounded twice: at most
`max_attempts` requests and at most `max_total_wait_s` seconds of waiting in all; a
``Retry-After`` longer than what is left of that budget ends the retries at once.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from http.client import HTTPResponse
from typing import IO

__all__ = ["GaveUp", "RetryPolicy", "open_with_retries", "retry_after_s", "retry_note"]


def _retryable(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry (the defaults are the adapter's documented ones).

    `sleep` is injectable so that a test can record the waits instead of sleeping them.
    """

    max_attempts: int = 5
    base_s: float = 1.0
    max_delay_s: float = 30.0
    max_total_wait_s: float = 120.0
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_s, self.max_delay_s, self.max_total_wait_s) < 0:
            raise ValueError("retry delays must not be negative")

    def backoff_s(self, retry: int) -> float:
        """The wait before retry number `retry` (1 for the first) when the server names none."""
        return float(min(self.base_s * 2 ** (retry - 1), self.max_delay_s))


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date.

    None when the header is absent or unreadable (the caller then backs off on its own); a
    date in the past is 0.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read as UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class GaveUp(urllib.error.HTTPError):
    """The last retryable answer, after the retries ran out; `note` says how many and why."""

    def __init__(self, last: urllib.error.HTTPError, note: str) -> None:
        fp: IO[bytes] | None = last.fp
        headers: Message = last.headers
        super().__init__(last.url, last.code, last.msg, headers, fp)
        self.note = note


def open_with_retries(
    request: urllib.request.Request, timeout_s: float, policy: RetryPolicy
) -> HTTPResponse:
    """`urllib.request.urlopen(request)`, retried on 429 and 5xx as `policy` allows.

    Raises the last `HTTPError` as `GaveUp` when a retryable status persists; any other
    error is raised at once, as `urlopen` raised it.
    """
    waited = 0.0
    attempt = 1
    while True:
        try:
            response: HTTPResponse = urllib.request.urlopen(request, timeout=timeout_s)
            return response
        except urllib.error.HTTPError as exc:
            if not _retryable(exc.code) or policy.max_attempts == 1:
                raise
            asked = retry_after_s(exc.headers.get("Retry-After") if exc.headers else None)
            delay = asked if asked is not None else policy.backoff_s(attempt)
            stop = None
            if attempt >= policy.max_attempts:
                stop = f"after {attempt} attempts"
            elif waited + delay > policy.max_total_wait_s:
                stop = (
                    f"after {attempt} attempt(s): waiting {delay:g}s more "
                    f"{'(as Retry-After asked) ' if asked is not None else ''}would pass the "
                    f"{policy.max_total_wait_s:g}s retry budget"
                )
            if stop is not None:
                raise GaveUp(exc, f"{stop}, {waited:g}s waited") from None
            exc.close()  # free the connection before waiting
            policy.sleep(delay)
            waited += delay
            attempt += 1


def retry_note(exc: urllib.error.HTTPError) -> str:
    """`` (after 5 attempts, 15s waited)`` for a `GaveUp`, else nothing."""
    return f" ({exc.note})" if isinstance(exc, GaveUp) else ""
