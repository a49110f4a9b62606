"""Calls to known LLM hosts through clients capture does not record: said once per host and client.

`--cost-capture` reads responses that pass through httpx2, httpx and botocore's Bedrock client.
A suite may also reach a provider through `requests`, `urllib3` itself, botocore for a service
other than bedrock-runtime, the standard library's `urllib.request`, or `aiohttp`; those calls
would be silently absent from the report. Each of those stacks has one method every request goes
through, wrapped here to note the host only (the request, its body and its response pass
untouched, and nothing is read from them):

* `urllib3.HTTPConnectionPool.urlopen` (requests, botocore, urllib3);
* `urllib.request.AbstractHTTPHandler.do_open` (`urlopen` over HTTP and HTTPS);
* `aiohttp.ClientSession._request` (what `get`, `post` and `request` all call).

When the host (and path) is an LLM API that genai-prices knows (`hosts.llm_provider_for_url`),
the running test gets a warning naming the host and the client, once per (host, client) in a
process; the report merges the same warning from every xdist worker into one. Which client made
a urllib3 call is told by the first caller outside urllib3 (``requests``, ``botocore``...),
looked for only when the host is an LLM host, so other traffic pays one dictionary look-up.
A caller that records its own usage (the calibration harness's HTTP adapter, over
`urllib.request`) is not warned about.

No blocking I/O inside an event loop (aiohttp's calls are always inside one): knowing the
providers' URL patterns needs genai-prices' data, an import that reads files. Until it is loaded
(a background thread starts loading it at install), a call made inside an event loop is kept
and judged at the test's end (`flush`), off the loop.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..tracker import InMemoryTokenTracker
from .capture import in_event_loop
from .hosts import llm_provider_for_url, load_provider_data, provider_data_ready

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
_STACK = frozenset({"urllib3", "urllib", "http", "pytest_tokencost"})
#: Callers that record the usage of their own calls (the calibration harness's HTTP adapter):
#: their calls are in the report, so no warning.
_RECORDS_ITS_OWN = frozenset({"calibrate"})
#: Enough (host, path) answers for any suite; past it the memo starts again.
_MEMO_SIZE = 4096
#: A (host, path) the memo has no answer for yet.
_UNSEEN: Any = object()


def _caller(frame: Any) -> str:
    """The top-level package of the first frame outside the HTTP stack ("" if none)."""
    while frame is not None:
        top = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if top not in _STACK:
            return top
        frame = frame.f_back
    return ""


def _client_of(frame: Any) -> str:
    """The library that called urllib3: the first frame outside the HTTP stack."""
    top = _caller(frame)
    return top if top in _CLIENTS or top in _RECORDS_ITS_OWN else "urllib3"


def _split(url: str, host: str) -> tuple[str, str]:
    """(host, path) of a request's URL, `host` for a URL without one; never the query."""
    if "://" in url:  # absolute (or through a proxy: the target is in the URL)
        parts = urlsplit(url)
        return parts.hostname or host, parts.path
    return host, url.partition("?")[0]  # the query may hold a key: never kept


def _load_quietly() -> None:
    with contextlib.suppress(Exception):  # a failure shows when a host is looked up
        load_provider_data()


class UncapturedHosts:
    """Wraps the HTTP stacks capture does not read, to warn about their LLM calls.

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
        self._originals: dict[str, tuple[Any, str, Any]] = {}  # stack: (class, name, method)
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, str], str | None] = {}
        self._warned: set[tuple[str, str]] = set()
        #: Calls made inside an event loop before the provider data was loaded: judged later.
        self._pending: list[tuple[InMemoryTokenTracker, str, str, str]] = []

    @property
    def installed(self) -> bool:
        """Whether a wrapper is in place."""
        return bool(self._originals)

    def _wrap(self, stack: str, cls: Any, name: str, make: Callable[[Any], Any]) -> bool:
        with self._lock:
            if stack not in self._originals:
                original = getattr(cls, name)
                self._originals[stack] = (cls, name, original)
                setattr(cls, name, make(original))
        threading.Thread(target=_load_quietly, name="tokencost-provider-data", daemon=True).start()
        return True

    def install(self) -> bool:
        """Wrap `urllib3.HTTPConnectionPool.urlopen`; False if urllib3 is not installed."""
        try:
            from urllib3.connectionpool import HTTPConnectionPool
        except ImportError:
            return False
        hosts = self

        def make(original: Any) -> Any:
            def urlopen(pool: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                with contextlib.suppress(Exception):  # never touch the caller's request
                    host, path = _split(url, str(getattr(pool, "host", "") or ""))
                    hosts._note(host, path, None)
                return original(pool, method, url, *args, **kwargs)

            return urlopen

        return self._wrap("urllib3", HTTPConnectionPool, "urlopen", make)

    def install_urllib(self) -> bool:
        """Wrap `urllib.request.AbstractHTTPHandler.do_open` (the standard library's HTTP)."""
        from urllib.request import AbstractHTTPHandler

        hosts = self

        def make(original: Any) -> Any:
            def do_open(handler: Any, http_class: Any, request: Any, **kwargs: Any) -> Any:
                with contextlib.suppress(Exception):
                    host, path = _split(request.full_url, "")
                    hosts._note(host, path, "urllib.request")
                return original(handler, http_class, request, **kwargs)

            return do_open

        return self._wrap("urllib.request", AbstractHTTPHandler, "do_open", make)

    def install_aiohttp(self) -> bool:
        """Wrap `aiohttp.ClientSession._request`; False if aiohttp is not installed."""
        try:
            from aiohttp.client import ClientSession  # the module the import watch waits for
        except ImportError:
            return False
        hosts = self

        def make(original: Any) -> Any:
            async def _request(session: Any, method: str, url: Any, **kwargs: Any) -> Any:
                with contextlib.suppress(Exception):
                    base = getattr(session, "_base_url", None)  # ClientSession(base_url=...)
                    host, path = _split(str(url), str(getattr(base, "host", "") or ""))
                    hosts._note(host, path, "aiohttp")
                return await original(session, method, url, **kwargs)

            return _request

        return self._wrap("aiohttp", ClientSession, "_request", make)

    def uninstall(self) -> None:
        """Put the original methods back."""
        with self._lock:
            for cls, name, original in self._originals.values():
                setattr(cls, name, original)
            self._originals = {}

    def flush(self, tracker: InMemoryTokenTracker) -> None:
        """Judge `tracker`'s calls kept out of an event loop (see the module docstring)."""
        with self._lock:
            pending = [call for call in self._pending if call[0] is tracker]
            self._pending = [call for call in self._pending if call[0] is not tracker]
        for _, host, path, client in pending:
            provider = self._provider(host, path)
            if provider is not None:
                self._warn(tracker, host, client, provider)

    def _provider(self, host: str, path: str) -> str | None:
        key = (host, path)
        if key in self._memo:
            return self._memo[key]
        provider = llm_provider_for_url(host, path)
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = provider
        return provider

    def _note(self, host: str, path: str, client: str | None) -> None:
        """One request to `host` + `path` by `client` (None: urllib3, told from the caller)."""
        provider = self._memo.get((host, path), _UNSEEN)
        if provider is _UNSEEN:
            if not provider_data_ready(host) and in_event_loop():
                self._defer(host, path, client)
                return
            provider = self._provider(host, path)
        if provider is None:
            return
        if client is None:
            client = _client_of(_frame())
        if (host, client) in self._warned:
            return
        if client in _RECORDS_ITS_OWN or _caller(_frame()) in _RECORDS_ITS_OWN:
            return
        if self.captured(client, provider):
            return
        tracker = self.target()
        if tracker is not None:  # outside a test: said by the first test that calls it
            self._warn(tracker, host, client, provider)

    def _defer(self, host: str, path: str, client: str | None) -> None:
        """Keep a call made inside an event loop for `flush` (no file is read on the loop)."""
        tracker = self.target()
        if tracker is not None:
            client = client or _client_of(_frame(4))
            with self._lock:
                self._pending.append((tracker, host, path, client))

    def _warn(self, tracker: InMemoryTokenTracker, host: str, client: str, provider: str) -> None:
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


def _frame(depth: int = 3) -> Any:
    """The frame that called the wrapper (`_frame`, `_note` and the wrapper skipped; one more
    from `_defer`); None on a stack shallower than that."""
    try:
        return sys._getframe(depth)
    except ValueError:
        return None
