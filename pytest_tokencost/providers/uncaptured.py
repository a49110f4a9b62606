"""Calls to known LLM hosts through clients capture does not record: said once per host and client.

`--cost-capture` reads responses that pass through httpx2, httpx and botocore's Bedrock client.
A suite may also reach a provider through `requests`, `urllib3` itself, or botocore for a service
other than bedrock-runtime; those calls would be silently absent from the report. Every one of
them goes through `urllib3.HTTPConnectionPool.urlopen`, which is wrapped here to note the host
only: the request, its body and its response pass untouched, and nothing is read from them. When
the host (and path) is an LLM API that genai-prices knows (`hosts.llm_provider_for_url`), the running test gets a
warning naming the host and the client, once per (host, client) in a process; the report merges
the same warning from every xdist worker into one. Which client made the call is told by the
first caller outside urllib3 (``requests``, ``botocore``...), looked for only when the host is
an LLM host, so other traffic pays one dictionary look-up.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..tracker import InMemoryTokenTracker
from .hosts import llm_provider_for_url

__all__ = ["UncapturedHosts"]

#: Libraries known to call urllib3 for their users; any other caller is named as "urllib3".
_CLIENTS = frozenset({"requests", "botocore", "httplib2", "huggingface_hub"})
#: Clients capture does record, but not this call: why.
_THROUGH = {
    ("botocore", "aws"): (
        "a botocore client made before --cost-capture began (at conftest import, say; make "
        "it in a fixture or a test)"
    ),
}
#: Frames of these packages are the HTTP stack itself, not the caller.
_STACK = frozenset({"urllib3", "pytest_tokencost"})
#: Enough (host, path) answers for any suite; past it the memo starts again.
_MEMO_SIZE = 4096


def _client_of(frame: Any) -> str:
    """The library that called urllib3: the first frame outside the HTTP stack."""
    while frame is not None:
        top = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if top not in _STACK:
            return top if top in _CLIENTS else "urllib3"
        frame = frame.f_back
    return "urllib3"


class UncapturedHosts:
    """Wraps `urllib3.HTTPConnectionPool.urlopen` to warn about uncaptured LLM calls.

    `target` gives the running test's tracker (None outside tests); `captured(client, provider)`
    says whether another capture records that client's calls to that provider (botocore's
    Bedrock runtime calls, when `capture_botocore` is installed).
    """

    def __init__(
        self,
        target: Callable[[], InMemoryTokenTracker | None],
        captured: Callable[[str, str], bool],
    ) -> None:
        self.target = target
        self.captured = captured
        self._original: Any = None
        self._pool: Any = None
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, str], str | None] = {}
        self._warned: set[tuple[str, str]] = set()

    @property
    def installed(self) -> bool:
        """Whether the wrapper is in place."""
        return self._original is not None

    def install(self) -> bool:
        """Wrap `urllib3.HTTPConnectionPool.urlopen`; False if urllib3 is not installed."""
        try:
            from urllib3.connectionpool import HTTPConnectionPool
        except ImportError:
            return False
        with self._lock:
            if self._original is not None:
                return True
            original = HTTPConnectionPool.urlopen
            hosts = self

            def urlopen(pool: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                with contextlib.suppress(Exception):  # never touch the caller's request
                    hosts._note(pool, url)
                return original(pool, method, url, *args, **kwargs)

            self._original, self._pool = original, HTTPConnectionPool
            HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign,assignment]
        return True

    def uninstall(self) -> None:
        """Put the original method back."""
        with self._lock:
            if self._original is not None:
                self._pool.urlopen = self._original
            self._original = self._pool = None

    def _note(self, pool: Any, url: str) -> None:
        host, path = str(getattr(pool, "host", "") or ""), url
        if "://" in url:  # through a proxy: the target is in the URL
            parts = urlsplit(url)
            host, path = parts.hostname or host, parts.path
        path = path.partition("?")[0]  # the query may hold a key: never kept
        key = (host, path)
        if key in self._memo:
            provider = self._memo[key]
        else:
            provider = llm_provider_for_url(host, path)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = provider
        if provider is None:
            return
        client = _client_of(sys._getframe(2))
        if (host, client) in self._warned or self.captured(client, provider):
            return
        tracker = self.target()
        if tracker is None:  # outside a test: said by the first test that calls it
            return
        with self._lock:
            if (host, client) in self._warned:
                return
            self._warned.add((host, client))
        through = _THROUGH.get(
            (client, provider), f"{client}, which --cost-capture does not record"
        )
        tracker.warnings.append(
            f"capture: {host} (an LLM API of {provider}) was called through {through}; those "
            "calls are not in this report (record them with token_tracker.observe(response))"
        )
