"""Automatic capture: LLM SDK calls made during a test become records on its tracker.

Current releases of the `openai` and `anthropic` SDKs send every request through `httpx2`.
`Capture` wraps the public `httpx2.Client.send` and `httpx2.AsyncClient.send`: a response from
a provider endpoint is read for its usage when its body has been read (non-streaming calls) or
when its stream closes (streaming calls). Streams pass through a tee that hands every chunk on
unchanged and at once; only a copy of the bytes is kept. A stream abandoned before its usage
arrived is recorded as *partial*, with estimated counts. Neither SDK is imported here; capture
never changes what the caller sees.

What any client's capture does with one finished exchange is in two public pieces, so that the
capture of other clients (other HTTP libraries, replays) makes the same records:

* `Exchange`: the facts of one call (method, host, path, request body, response headers, the
  decoded body or the stream's events);
* `record_for(exchange)`: the `CallRecord` it becomes — the provider's reported usage, or an
  estimate when the response carries none — with `CallRecord.apply(tracker, ...)` to record it.

Who served a call is its host's provider (`hosts.provider_for_url`, genai-prices' API URL
patterns): an OpenAI SDK client pointed at OpenRouter, Cerebras or Azure is priced as that
provider. A call is never dropped in silence: whatever goes wrong becomes a warning on the test's
tracker naming the call's host and path (never its query string, headers or text). Nothing
capture does reads a file inside a running event loop (a blocking-I/O guard such as
`blockbuster` would raise): an estimate that needs a tokenizer vocabulary not yet loaded is made
when the test's captured calls are flushed, after its call phase, off the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import json
import re
import sys
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..budget import TokenBudgetExceeded
from ..counting import HeuristicCounter, TokenCounter, count_usage, counter_for, vocabulary_ready
from ..errors import MissingUsageError, UnreadablePayloadError, UsageNotReadyError
from ..identity import response_id_of
from ..records import Provenance
from ..tracker import InMemoryTokenTracker, UnpricedUnderBudget
from .base import ObservedUsage
from .bodies import parse_body, usage_from, usage_from_stream
from .hosts import load_provider_data, provider_data_ready, provider_for_url
from .replay import is_replayed

__all__ = ["CallRecord", "Capture", "Exchange", "in_event_loop", "is_llm_call", "record_for"]

_ENDPOINTS = (
    "/chat/completions",
    "/responses",
    "/messages",
    ":generateContent",
    ":streamGenerateContent",
    "/v1/chat",  # Cohere
    "/v2/chat",
)


#: ``GET /v1/responses/{id}``: a background Responses call's result, its usage once finished.
_RETRIEVED_RESPONSE = re.compile(r"/responses/[^/]+$")


def is_llm_call(method: str, path: str) -> bool:
    """Whether a request is a call to an LLM endpoint whose response carries usage: a POST to a
    generation endpoint (``/responses/compact`` included), or the GET that retrieves a
    background Responses call."""
    if method == "POST":
        return path.endswith(_ENDPOINTS) or path.endswith("/responses/compact")
    return method == "GET" and _RETRIEVED_RESPONSE.search(path) is not None


def in_event_loop() -> bool:
    """Whether this thread is running an event loop (asyncio, or another that sniffio knows)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return True
    sniffio = sys.modules.get("sniffio")  # trio and others say so through sniffio
    if sniffio is None:
        return False
    try:
        sniffio.current_async_library()
    except Exception:  # sniffio.AsyncLibraryNotFoundError: not in an async context
        return False
    return True


def _where(request: Any) -> str:
    """``host/path`` of a request: never its query string, which may hold a key."""
    url = request.url
    return f"{getattr(url, 'host', '')}{getattr(url, 'path', '')}"


def _texts(node: Any, keys: tuple[str, ...]) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys and isinstance(value, str):
                yield value
            else:
                yield from _texts(value, keys)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value, keys)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One finished HTTP exchange with an LLM endpoint, as a client's capture saw it.

    `body` is the response body with its content encoding undone (JSON, server-sent events or a
    JSON array stream); a capture that already has the stream's events parsed gives `events`
    instead. `path` is the URL's path without its query string.
    """

    method: str
    host: str
    path: str
    request_body: bytes
    response_headers: Mapping[str, str]
    body: bytes | None = None
    events: list[Any] | None = None
    replayed: bool = False
    """A response replayed from a cassette or a mocked transport (see `replay.is_replayed`)."""
    data: Any = None
    """The response as its client already parsed it (botocore's dicts), instead of `body`."""
    model: str | None = None
    """The model the request asked for, when the client knows it and it is the one billed
    (Bedrock's ``modelId``): it wins over the model the response names."""
    provider: str | None = None
    """Who served the call, when the client knows better than the host (Bedrock's ``aws``)."""
    label: str | None = None
    """How warnings name the call, when ``host/path`` does not say it (a Bedrock operation)."""
    estimate: bool = True
    """Whether a response without readable usage is estimated from the request's texts; False
    for a client whose request texts capture does not see (then it is named in a warning)."""

    @property
    def where(self) -> str:
        """``host/path``: how warnings name the call (never a query string, key or text)."""
        return self.label or f"{self.host}{self.path}"

    @property
    def request_id(self) -> str | None:
        """The provider's request id header (Anthropic ``request-id``, ``x-request-id``,
        Amazon's ``x-amzn-requestid``)."""
        headers = self.response_headers
        value = (
            headers.get("request-id")
            or headers.get("x-request-id")
            or headers.get("x-amzn-requestid")
        )
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What one exchange becomes: the usage its provider reported, or an estimate of it.

    At most one of `observed` (the response's own usage, read by `providers`) and `estimate`
    (the keyword arguments of `InMemoryTokenTracker.record` for a response without usage) is
    set; neither for a response whose usage comes later (a background Responses call still
    queued: the GET that retrieves it finished is recorded instead). `warning`, if any, goes
    on the tracker with the record.
    """

    where: str
    response_id: str | None
    request_id: str | None
    observed: ObservedUsage | None = None
    estimate: dict[str, Any] | None = None
    warning: str | None = None
    replayed: bool = False

    def apply(
        self, tracker: InMemoryTokenTracker, *, case: str | None = None, step: str | None = None
    ) -> None:
        """Record it on `tracker` (raises what `record` raises, a crossed budget included)."""
        if self.warning is not None:
            tracker.warnings.append(self.warning)
        if self.observed is not None:
            tracker.record_observed(
                self.observed,
                step=step,
                case=case,
                response_id=self.response_id,
                request_id=self.request_id,
                replayed=self.replayed,
            )
        elif self.estimate is not None:
            tracker.record(
                step=step,
                case=case,
                response_id=self.response_id,
                request_id=self.request_id,
                replayed=self.replayed,
                **self.estimate,
            )


def _read_usage(data: Any, provider: str | None) -> ObservedUsage:
    """The reported usage of a body or stream, attributed to the provider that served it."""
    if isinstance(data, list):
        observed = usage_from_stream(data)
        return observed if provider is None else replace(observed, provider=provider)
    return usage_from(data, provider)


def _data_of(exchange: Exchange) -> Any:
    """The exchange's response as data (None when its body cannot be read)."""
    if exchange.events is not None:
        return exchange.events
    if exchange.data is not None:
        return exchange.data
    try:
        return parse_body(exchange.body or b"")
    except UnreadablePayloadError:
        return None


def _reported(exchange: Exchange, data: Any, observed: ObservedUsage) -> CallRecord:
    """The record of a response's reported usage, named by the model that is billed."""
    model = exchange.model or observed.model or _requested_model(exchange)
    if model != observed.model:  # /responses/compact and Cohere name no model: the request does
        observed = replace(observed, model=model)
    return CallRecord(
        exchange.where,
        response_id_of(data),
        exchange.request_id,
        observed=observed,
        replayed=exchange.replayed,
    )


def record_for(
    exchange: Exchange, *, may_read_files: bool = True, heuristic_fallback: bool = False
) -> CallRecord | None:
    """The record an exchange makes: its provider's reported usage, priced as its host's
    provider; or, for a response without usage (a stream cut short, a provider that sends
    none), a *partial* record whose counts are estimated from the request and what arrived.

    The estimate counts with the model's tokenizer, whose vocabulary is a file read on first
    use. With `may_read_files` False (inside an event loop) and that vocabulary not loaded yet,
    the result is None: make it again off the loop. With `heuristic_fallback` as well (the last
    chance to record the call), the estimate is made at bytes/4 instead, and says so.
    Who served the call is looked up in genai-prices' data, an import that reads files: with
    `may_read_files` False and that data not loaded yet, the result is None as well (unless
    `heuristic_fallback`). Raises nothing for a bad body; a bug raises, and the caller names
    the call in a warning.
    """
    if exchange.provider is None and not (
        may_read_files or heuristic_fallback or provider_data_ready(exchange.host)
    ):
        return None
    provider = exchange.provider or provider_for_url(exchange.host, exchange.path)
    data = _data_of(exchange)
    missing: MissingUsageError | None = None
    unreadable: UnreadablePayloadError | None = None
    if data is not None:
        try:
            return _reported(exchange, data, _read_usage(data, provider))
        except UsageNotReadyError:
            return CallRecord(exchange.where, None, exchange.request_id)
        except MissingUsageError as exc:
            missing = exc
        except UnreadablePayloadError as exc:
            unreadable = exc
    if not exchange.estimate:
        return _unread(exchange, missing or unreadable)
    return _estimate(exchange, data, provider, may_read_files, heuristic_fallback, missing)


def _unread(exchange: Exchange, error: UnreadablePayloadError | None) -> CallRecord:
    """A response whose usage cannot be read and is not estimated: a warning naming it."""
    why = f" ({error})" if error is not None else ""
    return CallRecord(
        exchange.where,
        None,
        exchange.request_id,
        warning=f"capture: {exchange.where} carried no usage that can be read{why}; its tokens "
        "are not counted",
    )


def _request_json(exchange: Exchange) -> Any:
    try:
        return json.loads(exchange.request_body or b"{}")
    except ValueError:
        return {}


def _requested_model(exchange: Exchange) -> str | None:
    request = _request_json(exchange)
    model = request.get("model") if isinstance(request, dict) else None
    return model if isinstance(model, str) else None


def _estimate(
    exchange: Exchange,
    data: Any,
    provider: str | None,
    may_read_files: bool,
    heuristic_fallback: bool,
    missing: MissingUsageError | None = None,
) -> CallRecord | None:
    """A record for a response without usage, its counts estimated from the texts: *partial*
    unless the reader found the response complete (one that simply carries no usage)."""
    request = _request_json(exchange)
    model = _requested_model(exchange)
    note = ""
    counter: TokenCounter
    if may_read_files or vocabulary_ready(model):
        counter = counter_for(model)
    elif heuristic_fallback:
        counter = HeuristicCounter()
        note = " (at bytes/4: its tokenizer could not be loaded inside the event loop)"
    else:
        return None
    events = data if isinstance(data, list | dict) else []
    prompt = "".join(_texts(request, ("content", "text", "input", "system")))
    answer = "".join(_texts(events, ("content", "text", "delta", "output_text")))
    return CallRecord(
        exchange.where,
        response_id_of(events) if events else None,
        exchange.request_id,
        estimate={
            "model": model,
            "provider": provider,
            "usage": count_usage(model, prompt, answer, counter=counter).usage,
            "provenance": Provenance.ESTIMATED,
            "partial": missing is None or not missing.complete,
        },
        warning=(
            f"capture: a {model or 'model'} response from {exchange.where} carried no usage "
            f"({_why_no_usage(missing)}); recorded "
            f"{'with' if missing is not None and missing.complete else 'as partial with'} "
            f"estimated counts{note}"
        ),
        replayed=exchange.replayed,
    )


def _why_no_usage(missing: MissingUsageError | None) -> str:
    if missing is None:
        return "its body could not be read"
    if missing.complete:
        return (
            "complete, without a usage block: a stream asked without "
            "stream_options.include_usage, or a provider that sends none"
        )
    return missing.reason


def _request_body(request: Any) -> bytes:
    """The request's body, or nothing if it was streamed (an upload) and so cannot be re-read."""
    try:
        return bytes(request.content or b"")
    except Exception:  # httpx2.RequestNotRead: an estimate then has no prompt to count
        return b""


class _Call:
    """One captured request: where its record goes, and the bytes seen so far."""

    def __init__(self, capture: Capture, tracker: InMemoryTokenTracker, request: Any) -> None:
        self.capture = capture
        self.tracker = tracker
        self.case, self.step = tracker.current_scope()
        # A stream is read to its end (and recorded) wherever the caller is by then, perhaps
        # after its step closed: the record is made in the context of the request, so it is
        # charged to the budgets of the step and case that made the call.
        self.context = contextvars.copy_context()
        self.where = _where(request)
        self.method = str(request.method)
        self.host = str(getattr(request.url, "host", ""))
        self.path = str(getattr(request.url, "path", ""))
        self.request_body = _request_body(request)
        self.chunks: list[bytes] = []
        self.headers: Any = {}
        self.body: bytes | None = None  # the decoded body, once read
        self.replayed = False  # set by Capture._watch from the response (see replay.py)
        self.done = False
        self.deferred = False  # waiting to be recorded off the event loop (see `finish`)

    def restart(self) -> int:
        """A new pass over the response's stream begins: where its chunks start in `chunks`."""
        return len(self.chunks)

    def completed(self, start: int) -> None:
        """The pass that began at `start` reached the stream's end.

        A pass usually continues the one before it (an SDK stops at the end event; a later
        read drains the rest). But a re-iterable stream (vcrpy's replayed `ByteStream`) is read
        again from its start, each pass holding the whole body: a pass that repeats everything
        read before it replaces it, so the body is counted once.
        """
        if start:
            this = b"".join(self.chunks[start:])
            if this.startswith(b"".join(self.chunks[:start])):
                self.chunks = self.chunks[start:]

    def finish(self, headers: Any, raw: bytes | None = None, *, last_chance: bool = False) -> None:
        """Read the usage from the (decoded) body and record it; never raises.

        A budget the record crosses is kept on the tracker (`crossed`), which fails the test
        when its body returns: raising here would raise inside the SDK, which retries. Inside
        an event loop, a record that needs a vocabulary file read is deferred to `flush`.
        """
        if self.done:
            return
        self.done = True
        try:
            if self.body is None:
                self.body = (
                    raw if raw is not None else self.capture.decode(headers, b"".join(self.chunks))
                )
            exchange = Exchange(
                self.method,
                self.host,
                self.path,
                self.request_body,
                headers,
                self.body,
                replayed=self.replayed,
            )
            made = record_for(
                exchange, may_read_files=not in_event_loop(), heuristic_fallback=last_chance
            )
            if made is None:  # an estimate that would read a file inside the event loop
                self.done, self.deferred = False, True
                return
            self.deferred = False
            self.context.run(made.apply, self.tracker, case=self.case, step=self.step)
        except (TokenBudgetExceeded, UnpricedUnderBudget):
            # A crossed budget: the record is kept, the tracker holds the crossing (`crossed`)
            # and the test fails after its body.
            pass
        except Warning as exc:  # a budget warning made an error: the record is kept
            self.tracker.warning_error = self.tracker.warning_error or exc
        except Exception as exc:  # capture must never break the caller's test
            self.tracker.warnings.append(
                f"capture: the response of {self.where} could not be recorded "
                f"({type(exc).__name__}); its tokens are not counted"
            )


def _load_quietly() -> None:
    """Load genai-prices' provider data; a failure shows later, on the call that needs it."""
    # provider_for_url imports it again if this failed, and its caller warns, naming the call.
    with contextlib.suppress(Exception):
        load_provider_data()


def _tee_classes(httpx2: Any) -> tuple[type, type]:
    """Stream wrappers that are httpx2 byte streams (httpx2 checks the type of a stream)."""

    class TeeStream(httpx2.SyncByteStream):  # type: ignore[misc]
        """Hands every chunk on at once and keeps a copy; reads the usage on close."""

        def __init__(self, inner: Any, call: _Call, headers: Any) -> None:
            self.inner, self.call, self.headers = inner, call, headers

        def __iter__(self) -> Iterator[bytes]:
            start = self.call.restart()
            for chunk in self.inner:
                self.call.chunks.append(chunk)
                yield chunk
            self.call.completed(start)

        def close(self) -> None:
            try:
                self.inner.close()
            finally:
                self.call.finish(self.headers)

    class AsyncTeeStream(httpx2.AsyncByteStream):  # type: ignore[misc]
        """The same for async clients."""

        def __init__(self, inner: Any, call: _Call, headers: Any) -> None:
            self.inner, self.call, self.headers = inner, call, headers

        async def __aiter__(self) -> AsyncIterator[bytes]:
            start = self.call.restart()
            async for chunk in self.inner:
                self.call.chunks.append(chunk)
                yield chunk
            self.call.completed(start)

        async def aclose(self) -> None:
            try:
                await self.inner.aclose()
            finally:
                self.call.finish(self.headers)

    return TeeStream, AsyncTeeStream


class Capture:
    """Wraps httpx2's client `send` while installed; `target` picks the running test's tracker."""

    #: The module whose `Client.send`/`AsyncClient.send` are wrapped (`capture_httpx` reuses
    #: all of this for classic httpx, whose public API is the same).
    transport = "httpx2"

    def __init__(self, target: Callable[[], InMemoryTokenTracker | None]) -> None:
        self.target = target
        self._originals: dict[Any, Any] = {}
        self._lock = threading.Lock()
        self._open: list[_Call] = []  # streamed calls not finished yet

    @property
    def installed(self) -> bool:
        """Whether the wrappers are in place."""
        return bool(self._originals)

    def install(self) -> bool:
        """Wrap `httpx2.Client.send` and `httpx2.AsyncClient.send`; False if no httpx2."""
        try:
            httpx2 = importlib.import_module(self.transport)
        except ImportError:
            return False
        self._httpx2 = httpx2
        self._tee, self._async_tee = _tee_classes(httpx2)
        # Ahead of the first call, off any event loop: an import that reads files.
        threading.Thread(target=_load_quietly, name="tokencost-provider-data", daemon=True).start()
        with self._lock:
            if self._originals:
                return True
            sync_send, async_send = httpx2.Client.send, httpx2.AsyncClient.send
            capture = self

            def send(client: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
                response = sync_send(client, request, *args, **kwargs)
                capture._watch(request, response, is_async=False)
                return response

            async def asend(client: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
                response = await async_send(client, request, *args, **kwargs)
                capture._watch(request, response, is_async=True)
                return response

            self._originals = {httpx2.Client: sync_send, httpx2.AsyncClient: async_send}
            httpx2.Client.send = send
            httpx2.AsyncClient.send = asend
        return True

    def flush(self, tracker: InMemoryTokenTracker) -> None:
        """Record `tracker`'s calls still open: streams never closed (abandoned), and records
        deferred out of an event loop. Called after the test's call phase, off any loop."""
        with self._lock:
            pending = [call for call in self._open if call.tracker is tracker and not call.done]
            self._open = [call for call in self._open if call.tracker is not tracker]
        for call in pending:
            call.finish(call.headers, last_chance=True)

    def uninstall(self) -> None:
        """Put the original methods back."""
        with self._lock:
            for cls, original in self._originals.items():
                cls.send = original
            self._originals = {}

    def decode(self, headers: Any, raw: bytes) -> bytes:
        """Undo the body's content encoding the way httpx2 itself does."""
        if not headers.get("content-encoding"):
            return raw
        return bytes(self._httpx2.Response(200, headers=headers, content=raw).content)

    def _watch(self, request: Any, response: Any, *, is_async: bool) -> None:
        tracker = None
        try:
            path = str(getattr(request.url, "path", ""))
            if not is_llm_call(request.method, path) or response.status_code >= 400:
                return
            tracker = self.target()
            if tracker is None:
                return
            call = _Call(self, tracker, request)
            call.headers = response.headers
            call.replayed = is_replayed(response)
            with self._lock:
                self._open = [open_call for open_call in self._open if not open_call.done]
                self._open.append(call)
            if response.is_closed:  # non-streaming: the body is already read and decoded
                call.finish(response.headers, response.content)
            elif is_async:
                response.stream = self._async_tee(response.stream, call, response.headers)
            else:
                response.stream = self._tee(response.stream, call, response.headers)
        except Exception as exc:  # never let accounting break the caller's request
            message = (
                f"capture: a call to {_where(request)} could not be watched "
                f"({type(exc).__name__}); its tokens are not counted"
            )
            if tracker is not None:
                tracker.warnings.append(message)
            else:  # no test to attach it to: a pytest warning is the one place left
                from ..pytest_warnings import TokenCostWarning

                warnings.warn(message, TokenCostWarning, stacklevel=3)
