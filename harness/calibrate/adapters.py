"""Adapters: where a calibration run's prompts go.

* `stub` answers every step with its ground truth, offline and deterministic; tokens are
  estimated from the sizes (bytes/4, the old contract), or counted when a model is named.
* `cursor` hands each prompt to an external agent through files (`FileDispatcher`); the model
  is usually unknown, so the default rate prices it.
* `openai` posts to any OpenAI-compatible Chat Completions endpoint and records the usage the
  endpoint reports.

More adapters come from other packages through the `pytest_tokencost_adapters` hook.
"""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pytest_tokencost.errors import UnreadablePayloadError
from pytest_tokencost.providers import usage_from
from pytest_tokencost.providers.hosts import provider_for_endpoint
from pytest_tokencost.records import Provenance
from pytest_tokencost.redact import redact

from .dispatch import (
    Dispatcher,
    DispatchError,
    DispatchRequest,
    DispatchResult,
    FileDispatcher,
    TimeoutTally,
)
from .retry import RetryPolicy, open_with_retries, retry_note
from .scenario import Scenario

__all__ = [
    "Adapter",
    "AdapterContext",
    "CursorAdapter",
    "OpenAIAdapter",
    "StubAdapter",
    "builtin_adapters",
    "missing_key",
    "openai_base_url",
    "resolve_adapter",
    "startup_problem",
]


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter may need: the scenario and the run's adapter options."""

    scenario: Scenario
    model: str | None = None
    dispatch_dir: Path | None = None
    timeout_s: float = 600.0
    poll_s: float = 0.02
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    progress: Callable[[str], None] | None = None
    timeouts: TimeoutTally | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class Adapter(Protocol):
    """A named way of running steps, which says how trustworthy its token counts are."""

    name: ClassVar[str]
    provenance: ClassVar[Provenance]

    def dispatcher(self, context: AdapterContext) -> Dispatcher:
        """A dispatcher for one run (raise `DispatchError` when it cannot be set up)."""
        ...


class _GroundTruth:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario

    def dispatch(self, request: DispatchRequest) -> DispatchResult:
        artifact = self.scenario.case(request.case_id).truth[request.step]
        return DispatchResult(artifact=artifact, model=request.model)


class StubAdapter:
    """Ground truth as the answer; estimated tokens. For offline, deterministic runs."""

    name: ClassVar[str] = "stub"
    provenance: ClassVar[Provenance] = Provenance.ESTIMATED

    def dispatcher(self, context: AdapterContext) -> Dispatcher:
        """Answers from the scenario's ground truth."""
        return _GroundTruth(context.scenario)


class CursorAdapter:
    """An external agent (Cursor, Claude Code, a person) answering through files."""

    name: ClassVar[str] = "cursor"
    provenance: ClassVar[Provenance] = Provenance.ESTIMATED

    def dispatcher(self, context: AdapterContext) -> Dispatcher:
        """A `FileDispatcher` on the run's dispatch folder."""
        if context.dispatch_dir is None:
            raise DispatchError("the cursor adapter needs a dispatch folder (--dispatch-dir)")
        return FileDispatcher(
            context.dispatch_dir,
            timeout_s=context.timeout_s,
            poll_s=context.poll_s,
            progress=context.progress,
            timeouts=context.timeouts,
        )


#: How much of an error body is read, and how much of its message is quoted.
_ERROR_BODY_BYTES = 64 * 1024
_ERROR_MESSAGE_CHARS = 200


def _endpoint(base_url: str) -> str:
    """`<base_url>/chat/completions`, keeping a query (``?api-version=...``) at the end."""
    parts = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit(
        parts._replace(path=parts.path.rstrip("/") + "/chat/completions")
    )


def _http_error_detail(status: int, body: bytes) -> str:
    """What an error answer says, redacted and short: never the raw body.

    Providers echo what they were sent (OpenAI's 401 quotes the key it got), so the message is
    redacted, cut to one line of `_ERROR_MESSAGE_CHARS`, and given beside the error's type and
    code when the body is the usual ``{"error": {...}}`` JSON.
    """
    text = body.decode("utf-8", "replace")
    fields: list[str] = []
    message: object = None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):  # OpenAI, OpenRouter, Anthropic-style {"error": {...}}
        for key in ("type", "code"):
            value = error.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                fields.append(f"{key} {value}")
        message = error.get("message")
    elif isinstance(error, str):
        message = error
    elif payload is None:
        message = text
    summary = f"HTTP {status}" + (f" ({', '.join(fields)})" if fields else "")
    if isinstance(message, str) and message.strip():
        one_line = " ".join(redact(message).split())
        if len(one_line) > _ERROR_MESSAGE_CHARS:
            one_line = one_line[: _ERROR_MESSAGE_CHARS - 3] + "..."
        summary += f": {one_line}"
    return redact(summary)


class _ChatCompletions:
    """POSTs prompts to `<base_url>/chat/completions`; the key never leaves the header."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str | None,
        timeout_s: float,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.url = _endpoint(base_url)
        self._shown_url = redact(self.url)  # a key in the URL's query stays out of messages
        self._api_key = api_key
        self.model = model
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()

    def __repr__(self) -> str:  # no key in reprs, logs or tracebacks
        return f"_ChatCompletions(url={self._shown_url!r}, model={self.model!r})"

    def dispatch(self, request: DispatchRequest) -> DispatchResult:
        """POST the prompt; every error message is redacted (see `_http_error_detail`)."""
        model = request.model or self.model
        if not model:
            raise DispatchError(
                "the openai adapter needs a model: set --adapter-model, OPENAI_MODEL, or "
                "`model` on the step"
            )
        body = json.dumps(
            {"model": model, "messages": [{"role": "user", "content": request.prompt}]}
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self._api_key:  # a local server may need none
            headers["Authorization"] = f"Bearer {self._api_key}"
        http_request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
        where = f"case {request.case_id!r} step {request.step!r}: POST {self._shown_url}"
        try:
            with open_with_retries(http_request, self.timeout_s, self.retry) as response:
                payload: Any = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                error_body = exc.read(_ERROR_BODY_BYTES)
            except OSError:
                error_body = b""
            detail = _http_error_detail(exc.code, error_body)
            raise DispatchError(f"{where} returned {detail}{retry_note(exc)}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = redact(str(getattr(exc, "reason", exc)))
            raise DispatchError(f"{where} failed: {reason}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DispatchError(
                f"{where} answered with something that is not JSON: {exc}"
            ) from None
        try:
            observed = usage_from(payload, provider_for_endpoint(self.url))  # priced as its host
            content = payload["choices"][0]["message"]["content"]
        except (UnreadablePayloadError, KeyError, IndexError, TypeError) as exc:
            raise DispatchError(f"{where}: unreadable response: {redact(str(exc))}") from None
        if not isinstance(content, str):
            raise DispatchError(f"{where}: the response's message content is not text")
        return DispatchResult(
            artifact=content,
            model=observed.model or model,
            provider=observed.provider,
            usage=observed.usage,
        )


class OpenAIAdapter:
    """Any OpenAI-compatible endpoint; real usage from every response."""

    name: ClassVar[str] = "openai"
    provenance: ClassVar[Provenance] = Provenance.REPORTED

    def dispatcher(self, context: AdapterContext) -> Dispatcher:
        """Base URL from the options or OPENAI_BASE_URL; the key from the environment."""
        base_url = openai_base_url(context.base_url)
        problem = missing_key(base_url, context.api_key_env)
        if problem:
            raise DispatchError(problem)
        model = context.model or os.environ.get("OPENAI_MODEL")
        return _ChatCompletions(
            base_url,
            os.environ.get(context.api_key_env),
            model,
            context.timeout_s,
            context.retry,
        )


def openai_base_url(option: str | None) -> str:
    """The endpoint: the option, else $OPENAI_BASE_URL, else OpenAI's own."""
    return option or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"


def _is_local(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def missing_key(base_url: str, api_key_env: str = "OPENAI_API_KEY") -> str | None:
    """Why the openai adapter cannot start (no key for a remote endpoint), or None.

    A server on this machine (localhost, 127.0.0.0/8, ::1) may run without a key.
    """
    if os.environ.get(api_key_env) or _is_local(base_url):
        return None
    return (
        f"the openai adapter reads its API key from ${api_key_env}, which is not set; set it, "
        f"or point --openai-base-url at a local server (the endpoint is {redact(base_url)})"
    )


def startup_problem(adapter: Adapter, *, base_url: str | None) -> str | None:
    """What stops `adapter` from running at all, checked once before any case runs."""
    if isinstance(adapter, OpenAIAdapter):
        return missing_key(openai_base_url(base_url))
    return None


def builtin_adapters() -> dict[str, Callable[[], Adapter]]:
    """The adapters this package ships, by name."""
    return {adapter.name: adapter for adapter in (StubAdapter, CursorAdapter, OpenAIAdapter)}


def resolve_adapter(name: str, extra: Mapping[str, Callable[[], Adapter]] = {}) -> Adapter:
    """An adapter by name, from the built-ins and `extra` (plugin-provided) ones."""
    known = {**builtin_adapters(), **extra}
    factory = known.get(name)
    if factory is None:
        raise DispatchError(f"unknown adapter {name!r}; available: {', '.join(sorted(known))}")
    return factory()
