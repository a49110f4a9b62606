"""Automatic capture: LLM SDK calls made during a test become records on its tracker.

Current releases of the `openai` and `anthropic` SDKs send every request through `httpx2`.
`Capture` wraps the public `httpx2.Client.send` and `httpx2.AsyncClient.send`: a response from
a provider endpoint is read for its usage when its body has been read (non-streaming calls) or
when its stream closes (streaming calls). Streams pass through a tee that hands every chunk on
unchanged and at once; only a copy of the bytes is kept. A stream abandoned before its usage
arrived is recorded as *partial*, with estimated counts. Neither SDK is imported here; capture
never changes what the caller sees, and a body it cannot read becomes a warning, not an error.
"""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .counting import counter_for
from .errors import TokenCostError, UnreadablePayloadError
from .identity import response_id_of
from .providers import parse_body, usage_from, usage_from_stream
from .records import Provenance, Usage
from .replay import is_replayed
from .tracker import InMemoryTokenTracker

__all__ = ["Capture"]

_ENDPOINTS = (
    "/chat/completions",
    "/responses",
    "/messages",
    ":generateContent",
    ":streamGenerateContent",
)


def _is_provider_call(request: Any) -> bool:
    path = str(getattr(request.url, "path", ""))
    return request.method == "POST" and path.endswith(_ENDPOINTS)


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
        self.request_body = bytes(getattr(request, "content", b"") or b"")
        self.chunks: list[bytes] = []
        self.headers: Any = {}
        self.replayed = False  # set by Capture._watch from the response (see replay.py)
        self.done = False

    def finish(self, headers: Any, raw: bytes | None = None) -> None:
        """Read the usage from the (decoded) body and record it; never raises.

        A budget the record crosses is kept on the tracker (`crossed`), which fails the test
        when its body returns: raising here would raise inside the SDK, which retries.
        """
        if self.done:
            return
        self.done = True
        try:
            self.context.run(self._finish, headers, raw)
        except TokenCostError:
            pass  # a crossed budget: the tracker keeps it and the test fails after its body
        except Exception as exc:  # capture must never break the caller's test
            self.tracker.warnings.append(
                f"capture: the response of {self.where} could not be recorded "
                f"({type(exc).__name__}); its tokens are not counted"
            )

    def _finish(self, headers: Any, raw: bytes | None) -> None:
        body = raw if raw is not None else self.capture.decode(headers, b"".join(self.chunks))
        try:
            data = parse_body(body)
            observed = usage_from_stream(data) if isinstance(data, list) else usage_from(data)
        except UnreadablePayloadError:
            self._partial(body)
            return
        request_id = headers.get("request-id") or headers.get("x-request-id")
        self.tracker.record_observed(
            observed,
            step=self.step,
            case=self.case,
            response_id=response_id_of(data),
            request_id=request_id if isinstance(request_id, str) else None,
            replayed=self.replayed,
        )

    def _partial(self, body: bytes) -> None:
        """A stream cut before its usage: estimate from the request and what did arrive."""
        try:
            request = json.loads(self.request_body or b"{}")
        except ValueError:
            request = {}
        model = request.get("model") if isinstance(request, dict) else None
        model = model if isinstance(model, str) else None
        try:
            events = parse_body(body) if body.strip() else []
        except UnreadablePayloadError:
            events = []
        counter = counter_for(model)
        prompt = "".join(_texts(request, ("content", "text", "input", "system")))
        answer = "".join(_texts(events, ("content", "text", "delta", "output_text")))
        self.tracker.warnings.append(
            f"capture: a {model or 'model'} response from {self.where} carried no usage "
            "(a stream cut short, or a provider that sends none); recorded as partial with "
            "estimated counts"
        )
        self.tracker.record(
            step=self.step,
            case=self.case,
            model=model,
            usage=Usage(input=counter.count(prompt), output=counter.count(answer)),
            provenance=Provenance.ESTIMATED,
            partial=True,
            response_id=response_id_of(events) if isinstance(events, list | dict) else None,
            replayed=self.replayed,
        )


def _tee_classes(httpx2: Any) -> tuple[type, type]:
    """Stream wrappers that are httpx2 byte streams (httpx2 checks the type of a stream)."""

    class TeeStream(httpx2.SyncByteStream):  # type: ignore[misc]
        """Hands every chunk on at once and keeps a copy; reads the usage on close."""

        def __init__(self, inner: Any, call: _Call, headers: Any) -> None:
            self.inner, self.call, self.headers = inner, call, headers

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self.inner:
                self.call.chunks.append(chunk)
                yield chunk

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
            async for chunk in self.inner:
                self.call.chunks.append(chunk)
                yield chunk

        async def aclose(self) -> None:
            try:
                await self.inner.aclose()
            finally:
                self.call.finish(self.headers)

    return TeeStream, AsyncTeeStream


class Capture:
    """Wraps httpx2's client `send` while installed; `target` picks the running test's tracker."""

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
            import httpx2
        except ImportError:
            return False
        self._httpx2 = httpx2
        self._tee, self._async_tee = _tee_classes(httpx2)
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
            httpx2.Client.send = send  # type: ignore[method-assign,assignment]
            httpx2.AsyncClient.send = asend  # type: ignore[method-assign,assignment]
        return True

    def flush(self, tracker: InMemoryTokenTracker) -> None:
        """Finish `tracker`'s streams that were never closed (abandoned): record them now."""
        with self._lock:
            pending = [call for call in self._open if call.tracker is tracker and not call.done]
            self._open = [call for call in self._open if call.tracker is not tracker]
        for call in pending:
            call.finish(call.headers)

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
            if not _is_provider_call(request) or response.status_code >= 400:
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
            if tracker is not None:
                tracker.warnings.append(
                    f"capture: a call to {_where(request)} could not be watched "
                    f"({type(exc).__name__}); its tokens are not counted"
                )
