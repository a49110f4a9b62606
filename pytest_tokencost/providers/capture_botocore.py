"""Capture of Amazon Bedrock calls made through botocore (and so boto3).

botocore's public way in is its event system: each client emits
``before-parameter-build.bedrock-runtime.<Operation>`` with the caller's parameters (the
``modelId`` is read there) and ``after-call.bedrock-runtime.<Operation>`` with the parsed
response. `BotocoreCapture` wraps `botocore.session.Session.create_client` so that every
bedrock-runtime client made while it is installed registers both handlers; clients of other
services are left alone. Bedrock bills the model it was asked for, so records carry provider
``aws`` and the requested ``modelId`` (an inference-profile ARN is named by its last part).

What each operation says is read by `providers.bedrock` (Converse's ``usage``, an InvokeModel
body or its headers, a stream's ``metadata`` or ``amazon-bedrock-invocationMetrics``) and by the
Anthropic reader for Anthropic models' bodies and events; each finished call becomes an
`capture.Exchange` (its parsed response, the requested model, provider ``aws``) and its record
is made by `capture.record_for`, as every captured call's is. An InvokeModel body is read once
here and handed back as an identical `StreamingBody`. ``ConverseStream``'s ``metadata`` event
carries Converse's ``usage``; ``InvokeModelWithResponseStream``'s ``chunk`` events hold the
model's own stream (Anthropic's ``message_stop`` ends it; other models' last chunk carries the
metrics). The event stream is handed back as the same object, its class made a subclass of
botocore's `EventStream` whose iteration hands every event on unchanged and at once, keeping
what the usage needs.

Handlers never raise into botocore: a response that cannot be read is a warning naming the
operation and model, and a stream abandoned before its usage is one at the test's end.
"""

from __future__ import annotations

import contextvars
import io
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..errors import TokenCostError, UnreadablePayloadError
from ..tracker import InMemoryTokenTracker
from .bedrock import METRICS, converse_usage, invoke_payload
from .capture import Exchange, in_event_loop, record_for
from .replay import is_replayed_botocore

__all__ = ["BotocoreCapture", "converse_usage"]

_SERVICE = "bedrock-runtime"
_MODEL_KEY = "tokencost_model_id"  # where the requested model waits in botocore's call context


def _model_name(model_id: Any) -> str | None:
    if not isinstance(model_id, str) or not model_id:
        return None
    if model_id.startswith("arn:"):  # an inference profile or provisioned model: its last part
        return model_id.rsplit("/", 1)[-1]
    return model_id


def _headers(parsed: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = parsed.get("ResponseMetadata")
    headers = metadata.get("HTTPHeaders") if isinstance(metadata, Mapping) else None
    return headers if isinstance(headers, Mapping) else {}


def _request_id(parsed: Mapping[str, Any]) -> str | None:
    metadata = parsed.get("ResponseMetadata")
    value = metadata.get("RequestId") if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) and value else None


class _Call:
    """One Bedrock call: the test's tracker, the scope it was made in, what its usage needs."""

    def __init__(self, tracker: InMemoryTokenTracker, operation: str, model: str | None) -> None:
        self.tracker = tracker
        self.operation = operation
        self.model = model
        self.case, self.step = tracker.current_scope()
        # A stream may be read after its step closed: record in the context of the call, so
        # the step's and case's budgets are the ones charged (as `capture._Call` does).
        self.context = contextvars.copy_context()
        self.events: list[Any] = []
        self.request_id: str | None = None
        self.replayed = False  # played back from a cassette (see `replay.is_replayed_botocore`)
        self.done = False

    @property
    def name(self) -> str:
        return f"bedrock-runtime {self.operation} ({self.model or 'model unknown'})"

    def warn(self, message: str) -> None:
        self.tracker.warnings.append(f"capture: {self.name} {message}")

    def record(self, data: Callable[[], Any]) -> None:
        """Make the call's record from what `data` gives (its parsed response), through
        `capture.record_for`; never raises (a failure is a warning)."""
        if self.done:
            return
        self.done = True
        try:
            exchange = Exchange(
                "POST",
                _SERVICE,
                f"/model/{self.model or ''}/{self.operation}",
                b"",
                {"x-amzn-requestid": self.request_id} if self.request_id else {},
                replayed=self.replayed,
                data=data(),
                model=self.model,
                provider="aws",
                label=self.name,
                estimate=False,
            )
            made = record_for(exchange, may_read_files=not in_event_loop(), heuristic_fallback=True)
            if made is not None:
                self.context.run(made.apply, self.tracker, case=self.case, step=self.step)
        except TokenCostError as exc:
            if isinstance(exc, UnreadablePayloadError):  # the body holds no usage to read
                self.warn(f"carried no usage that can be read ({exc}); its tokens are not counted")
            # else a crossed budget: the tracker keeps it, the test fails after its body
        except Warning as exc:  # a budget warning made an error: the record is kept
            self.tracker.warning_error = self.tracker.warning_error or exc
        except Exception as exc:  # capture must never break the caller
            self.warn(f"could not be recorded ({type(exc).__name__}); its tokens are not counted")


class _Failed(io.RawIOBase):
    """A body whose every read raises the error its first read raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise self.error

    def read(self, size: int = -1) -> bytes:
        raise self.error


def _tee_class(event_stream: type) -> type:
    """A subclass of botocore's `EventStream` that watches the events it yields."""

    class TeeEventStream(event_stream):  # type: ignore[misc]
        """Hands every event on unchanged; keeps what the usage needs; records at the end."""

        _tokencost_call: _Call
        _tokencost_capture: BotocoreCapture

        def __iter__(self) -> Iterator[Any]:
            call, capture = self._tokencost_call, self._tokencost_capture
            for event in super().__iter__():
                capture.see(call, event)
                yield event
            if not call.done:  # ended: whatever usage came is all there is
                call.record(lambda: list(call.events))

    return TeeEventStream


class BotocoreCapture:
    """Registers the Bedrock handlers on every bedrock-runtime client made while installed."""

    def __init__(self, target: Callable[[], InMemoryTokenTracker | None]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._original: Any = None
        self._session_class: Any = None
        self._open: list[_Call] = []  # streams not finished yet
        self._local = threading.local()  # set while a watched client's request is sent

    @property
    def installed(self) -> bool:
        """Whether `Session.create_client` is wrapped."""
        return self._original is not None

    def install(self) -> bool:
        """Wrap `botocore.session.Session.create_client`; False if botocore is not installed."""
        try:
            from botocore.eventstream import EventStream
            from botocore.response import StreamingBody
            from botocore.session import Session
        except ImportError:
            return False
        self._streaming_body = StreamingBody
        self._tee = _tee_class(EventStream)
        self._event_stream = EventStream
        with self._lock:
            if self._original is not None:
                return True
            original = Session.create_client
            capture = self

            def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
                client = original(session, *args, **kwargs)
                capture._attach(client)
                return client

            self._original, self._session_class = original, Session
            Session.create_client = create_client
        return True

    def uninstall(self) -> None:
        """Put `create_client` back (clients made meanwhile keep their handlers, inert once
        no test is running: their target is None)."""
        with self._lock:
            if self._original is not None:
                self._session_class.create_client = self._original
            self._original = self._session_class = None

    def flush(self, tracker: InMemoryTokenTracker) -> None:
        """Say which of `tracker`'s streams were abandoned before their usage arrived."""
        with self._lock:
            pending = [call for call in self._open if call.tracker is tracker and not call.done]
            self._open = [call for call in self._open if call.tracker is not tracker]
        for call in pending:
            call.done = True
            call.warn("stream was abandoned before its usage arrived; its tokens are not counted")

    def _attach(self, client: Any) -> None:
        try:
            if client.meta.service_model.service_name != _SERVICE:
                return
            events = client.meta.events
            events.register(f"before-parameter-build.{_SERVICE}", self._before)
            events.register(f"before-send.{_SERVICE}", self._sending)
            events.register(f"after-call.{_SERVICE}", self._after)
        except Exception:  # a client we cannot watch still works; its calls go unrecorded
            pass

    def _sending(self, **kwargs: Any) -> None:
        """A watched client is about to send: its request is not an uncaptured call."""
        self._local.watched = True

    def take_watched(self) -> bool:
        """Whether this thread's Bedrock request being sent comes from a watched client (read
        once, by `uncaptured` as urllib3 sends it)."""
        watched = bool(getattr(self._local, "watched", False))
        self._local.watched = False
        return watched

    def _before(self, params: Any = None, context: Any = None, **kwargs: Any) -> None:
        try:
            if isinstance(params, Mapping) and isinstance(context, dict):
                context[_MODEL_KEY] = params.get("modelId")
        except Exception:
            pass

    def _after(
        self,
        http_response: Any = None,
        parsed: Any = None,
        model: Any = None,
        context: Any = None,
        **kwargs: Any,
    ) -> None:
        self._local.watched = False  # sent (or answered by a stub): nothing is in flight
        tracker = None
        call = None
        try:
            if getattr(http_response, "status_code", 200) >= 300 or not isinstance(parsed, dict):
                return  # an error: botocore raises it to the caller, nothing was billed
            tracker = self.target()
            if tracker is None:
                return
            model_id = context.get(_MODEL_KEY) if isinstance(context, Mapping) else None
            call = _Call(tracker, str(getattr(model, "name", "call")), _model_name(model_id))
            call.request_id = _request_id(parsed)
            call.replayed = is_replayed_botocore(http_response)
            self._read(call, parsed)
        except Exception as exc:  # never raise into botocore, which would fail the call
            if call is not None:
                call.warn(
                    f"could not be watched ({type(exc).__name__}); its tokens are not counted"
                )
            elif tracker is not None:
                tracker.warnings.append(
                    f"capture: a bedrock-runtime call could not be watched ({type(exc).__name__})"
                    "; its tokens are not counted"
                )

    def _read(self, call: _Call, parsed: dict[str, Any]) -> None:
        operation = call.operation
        if operation == "Converse":
            call.record(lambda: parsed)
        elif operation == "InvokeModel":
            body: Any = parsed.get("body")
            try:
                raw = bytes(body.read() if hasattr(body, "read") else body or b"")
            except Exception as exc:
                # The connection broke mid-body: the caller's read raises what it would have.
                parsed["body"] = self._streaming_body(_Failed(exc), None)
                call.warn(
                    f"body could not be read ({type(exc).__name__}); its tokens are not counted"
                )
                return
            # The caller reads the same bytes from a body of the same type.
            parsed["body"] = self._streaming_body(io.BytesIO(raw), len(raw))
            call.record(lambda: invoke_payload(raw, _headers(parsed)))
        elif operation in ("ConverseStream", "InvokeModelWithResponseStream"):
            key = "stream" if operation == "ConverseStream" else "body"
            stream = parsed.get(key)
            if not isinstance(stream, self._event_stream):
                call.warn("returned no event stream; its tokens are not counted")
                return
            stream._tokencost_call, stream._tokencost_capture = call, self
            stream.__class__ = self._tee
            with self._lock:
                self._open = [open_call for open_call in self._open if not open_call.done]
                self._open.append(call)
        # Other bedrock-runtime operations (guardrails, async invocations) bill no tokens here.

    def see(self, call: _Call, event: Any) -> None:
        """Keep what one stream event says about usage; never raises."""
        try:
            if not isinstance(event, Mapping) or call.done:
                return
            metadata = event.get("metadata")
            if isinstance(metadata, Mapping):  # ConverseStream: the usage, once, near the end
                call.record(lambda: metadata)
                return
            chunk = event.get("chunk")
            if not isinstance(chunk, Mapping) or not isinstance(chunk.get("bytes"), bytes | str):
                return
            decoded = json.loads(chunk["bytes"])
            call.events.append(decoded)
            if not isinstance(decoded, Mapping):
                return
            # The last event of the model's stream: a caller may stop reading right after it.
            if decoded.get("type") == "message_stop":
                call.record(lambda: list(call.events))
            elif isinstance(decoded.get(METRICS), Mapping):
                call.record(lambda: decoded)
        except Exception as exc:
            call.done = True
            call.warn(
                f"stream could not be read ({type(exc).__name__}); its tokens are not counted"
            )
