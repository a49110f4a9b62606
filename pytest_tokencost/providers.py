"""Read provider responses into normalised `Usage` (the convention of `records.Usage`).

Each provider's numbers are converted exactly once here:

* OpenAI Chat Completions: `prompt_tokens` already includes `cached_tokens`; `completion_tokens`
  already includes `reasoning_tokens`.
* OpenAI Responses: the same, with `input_tokens` / `output_tokens`.
* Anthropic Messages: `input_tokens` *excludes* cache reads and writes, so they are added back.
  Streams: `message_start` carries the first figures, each `message_delta` cumulative ones;
  the last delta wins, its `input_tokens` too (server tools make the input grow).
* Anthropic `usage.iterations` (one entry per sampling iteration inside the request): `message`
  entries are already inside the top-level figures; a `compaction` entry (server-side context
  compaction) is *not*, so its tokens are added to them (same model); an `advisor_message` entry
  is the advisor tool's sub-inference on another model, also outside the top level: it becomes a
  `UsagePart` of that model, priced at its own rates. In streams the last `iterations` given wins.
* Gemini: `promptTokenCount` includes `cachedContentTokenCount`, but `candidatesTokenCount`
  *excludes* `thoughtsTokenCount`, so thoughts are added to the output; the prompts of built-in
  tools (search grounding, URL context, file search) are counted in `toolUsePromptTokenCount`,
  beside `promptTokenCount`, and added to the input. Streams repeat `usageMetadata` as
  snapshots: the last one wins.
* OpenAI Responses background mode: the `POST` answers `status: queued` without usage
  (`UsageNotReadyError`: nothing to record yet); the finished response retrieved with
  `GET /v1/responses/{id}` carries it. `/responses/compact` answers a `response.compaction`
  object with the same `usage` (and, in OpenAI's own API, no model).
* Billable units beside tokens: Anthropic splits cache writes by lifetime in
  `usage.cache_creation` (`ephemeral_1h_input_tokens` is kept as `cache_write_1h`, a part of
  `cache_write`) and counts server-side web searches in `usage.server_tool_use.web_search_requests`;
  an OpenAI Responses response lists each web search as an `output` item of type
  `web_search_call` (usage does not count them). Both become `web_searches`. A source that does not
  say leaves these `None`.
* OpenAI-compatible gateways (OpenRouter) may report their own `usage.cost` in USD: it is kept
  as `reported_cost_micro_usd`, beside the cost this package computes.

SDK objects (pydantic models of the `openai` / `anthropic` packages), plain dicts and JSON text are
all accepted; neither SDK is imported. Anything unreadable raises `UnreadablePayloadError` naming
the type and the field; nothing is ever guessed as zero. A response without usage raises its
subclass `MissingUsageError`, which says whether it was cut short or is complete.

Garbage (a negative, non-integer or absurdly large count) is an error. A provider whose figures
contradict each other (OpenRouter reporting 11 reasoning tokens in an output of 10) is kept as
reported: the whole (input, output) stands, the part that cannot be inside it is left `None`, and
`ObservedUsage.notes` says what was inconsistent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import MissingUsageError, UnreadablePayloadError, UsageNotReadyError
from .money import usd_to_micro
from .records import MAX_COUNT, Usage

__all__ = [
    "ObservedUsage",
    "UsagePart",
    "parse_body",
    "usage_from",
    "usage_from_body",
    "usage_from_stream",
]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class UsagePart:
    """Usage a response reports for a sub-inference on another model, priced at that model's rates.

    Anthropic's advisor tool runs the advisor model inside the executor's request and reports
    its tokens in `usage.iterations` (`type: "advisor_message"`, with its `model`), outside the
    top-level figures. `kind` names the part (``"advisor"``); `model` is `None` when the payload
    does not name it.
    """

    model: str | None
    usage: Usage
    kind: str


@dataclass(frozen=True, slots=True)
class ObservedUsage:
    """What a payload says: its usage, the model that answered, and the provider's name.

    `parts` are usages of *other* models inside the same response (an advisor's), not included
    in `usage`: a caller records each as a record of its own model (`record_observed` does).
    `notes` name figures the provider reported inconsistently (kept as reported, see the module
    docstring): a caller shows them as warnings.
    """

    usage: Usage
    model: str | None
    provider: str
    kind: str
    reported_cost_micro_usd: int | None = None
    reported_total: int | None = None
    parts: tuple[UsagePart, ...] = ()
    notes: tuple[str, ...] = ()


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, _MISSING)
    return getattr(obj, key, _MISSING)


class _Reader:
    """Field access with errors that say which payload and which field."""

    def __init__(self, payload: Any, kind: str) -> None:
        self.payload = payload
        self.kind = kind
        self.notes: list[str] = []

    def fail(self, message: str) -> UnreadablePayloadError:
        return UnreadablePayloadError(
            f"cannot read usage from {type(self.payload).__name__} ({self.kind}): {message}"
        )

    def no_usage(self, message: str, *, complete: bool) -> MissingUsageError:
        """The response carries no usage: cut short (`complete=False`) or whole."""
        return MissingUsageError(
            f"cannot read usage from {type(self.payload).__name__} ({self.kind}): {message}",
            complete=complete,
        )

    def section(self, obj: Any, path: str, *, required: bool = True) -> Any:
        value = _get(obj, path.rsplit(".", 1)[-1])
        if value is _MISSING or value is None:
            if required:
                raise self.fail(f"field '{path}' is missing or null")
            return None
        return value

    def count(self, obj: Any, path: str, *, required: bool = True) -> int | None:
        if obj is None:
            if required:
                raise self.fail(f"field '{path}' is missing")
            return None
        value = _get(obj, path.rsplit(".", 1)[-1])
        if value is _MISSING or value is None:
            if required:
                raise self.fail(f"field '{path}' is missing or null")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(
                f"field '{path}' is {value!r} ({type(value).__name__}); expected a non-negative "
                "integer"
            )
        if value < 0:
            raise self.fail(f"field '{path}' is {value}; token counts cannot be negative")
        if value > MAX_COUNT:  # garbage, not an inconsistency: checked before any part is kept
            raise self.fail(
                f"field '{path}' is {value}, more than the {MAX_COUNT:,} a count may be"
            )
        return value

    def model(self) -> str | None:
        model = _get(self.payload, "model")
        if model is _MISSING or model is None:
            return None
        if not isinstance(model, str):
            raise self.fail(f"field 'model' is {model!r}; expected a string")
        return model

    def usage(
        self,
        input: int | None,
        output: int | None,
        cache_read: int | None = None,
        cache_write: int | None = None,
        reasoning: int | None = None,
        cache_write_1h: int | None = None,
        web_searches: int | None = None,
    ) -> Usage:
        if input is None or output is None:  # required counts normally raise before this
            raise self.fail(f"no {'input' if input is None else 'output'} token count")
        # The provider's figures contradict each other: keep its whole (what it billed), leave
        # the part that cannot be inside it unrecorded, and say so. Never an estimate instead.
        if reasoning is not None and reasoning > output:
            self.notes.append(
                f"{self.kind}: reasoning tokens ({reasoning:,}) exceed the output tokens "
                f"({output:,}) that include them; input and output kept as reported, "
                "reasoning left unrecorded"
            )
            reasoning = None
        if (cache_read or 0) + (cache_write or 0) > input:
            self.notes.append(
                f"{self.kind}: cache reads ({cache_read}) + cache writes ({cache_write}) exceed "
                f"the input tokens ({input:,}) that include them; input and output kept as "
                "reported, the cache parts left unrecorded (priced as uncached input)"
            )
            cache_read = cache_write = cache_write_1h = None
        if cache_write_1h is not None and cache_write_1h > (cache_write or 0):
            self.notes.append(
                f"{self.kind}: 1-hour cache writes ({cache_write_1h:,}) exceed all cache writes "
                f"({cache_write}); cache writes kept as reported, the 1-hour part left "
                "unrecorded (priced as 5-minute writes)"
            )
            cache_write_1h = None
        try:
            return Usage(
                input=input,
                output=output,
                cache_read=cache_read,
                cache_write=cache_write,
                reasoning=reasoning,
                cache_write_1h=cache_write_1h,
                web_searches=web_searches,
            )
        except ValueError as exc:
            raise self.fail(str(exc)) from exc

    def checked(self, usage: Usage) -> Usage:
        """`usage` (a sum) validated again: a sum of valid counts may still pass `MAX_COUNT`."""
        try:
            return Usage(**usage.model_dump())
        except ValueError as exc:
            raise self.fail(str(exc)) from exc


def _reported_cost(r: _Reader, usage: Any) -> int | None:
    """OpenRouter's `usage.cost` (USD) in micro-USD, when present."""
    cost = _get(usage, "cost")
    if cost is _MISSING or cost is None:
        return None
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not cost >= 0:
        raise r.fail(f"field 'usage.cost' is {cost!r}; expected a non-negative number of USD")
    if cost == float("inf"):
        raise r.fail("field 'usage.cost' is infinite")
    return usd_to_micro(cost)


def _openai(
    payload: Any, kind: str, label: str, input_name: str, output_name: str
) -> ObservedUsage:
    """OpenAI Chat Completions (`prompt`/`completion`) and Responses (`input`/`output`) usage.

    Both already count cached tokens inside the input and reasoning inside the output.
    """
    r = _Reader(payload, label)
    usage = _get(payload, "usage")
    if usage is _MISSING or usage is None:
        raise _no_openai_usage(r, payload)
    inp, out = f"usage.{input_name}_tokens", f"usage.{output_name}_tokens"
    input_details = r.section(usage, f"{inp}_details", required=False)
    output_details = r.section(usage, f"{out}_details", required=False)
    result = r.usage(
        input=r.count(usage, inp),
        output=r.count(usage, out),
        cache_read=r.count(input_details, f"{inp}_details.cached_tokens", required=False),
        cache_write=r.count(input_details, f"{inp}_details.cache_write_tokens", required=False),
        reasoning=r.count(output_details, f"{out}_details.reasoning_tokens", required=False),
    )
    total = r.count(usage, "usage.total_tokens", required=False)
    if input_name == "input":  # Responses: web searches are output items, not usage fields
        searches = _web_search_calls(r, payload)
        if searches is not None:
            result = result.model_copy(update={"web_searches": searches})
    return ObservedUsage(
        result,
        r.model(),
        "openai",
        kind,
        _reported_cost(r, usage),
        total,
        notes=tuple(r.notes),
    )


#: Statuses of an OpenAI Responses response still running (background mode): no usage yet.
_RESPONSES_PENDING = ("queued", "in_progress")


def _no_openai_usage(r: _Reader, payload: Any) -> UnreadablePayloadError:
    """The error for an OpenAI-shaped response without usage: not ready yet, or none at all."""
    status = _get(payload, "status")
    if _get(payload, "object") == "response" and status in _RESPONSES_PENDING:
        response_id = _get(payload, "id")
        return UsageNotReadyError(
            f"cannot read usage from {type(payload).__name__} ({r.kind}): the response is "
            f"{status} (background mode); its usage comes with the finished response that "
            f"GET /v1/responses/{{id}} returns",
            response_id=response_id if isinstance(response_id, str) else None,
        )
    return r.no_usage("field 'usage' is missing or null", complete=True)


def _web_search_calls(r: _Reader, response: Any) -> int | None:
    """Web searches of an OpenAI Responses response: its `web_search_call` output items.

    `None` when the response carries no `output` list (a usage-only payload cannot say).
    """
    output = _get(response, "output")
    if output is _MISSING or output is None:
        return None
    if not isinstance(output, list | tuple):
        raise r.fail(f"field 'output' is {type(output).__name__}; expected a list of items")
    return sum(1 for item in output if _get(item, "type") == "web_search_call")


def _anthropic_extras(r: _Reader, usage: Any, where: str) -> tuple[int | None, int | None]:
    """(1-hour cache writes, web searches) of an Anthropic usage object, `None` if not said."""
    creation = r.section(usage, f"{where}.cache_creation", required=False)
    one_hour = r.count(
        creation, f"{where}.cache_creation.ephemeral_1h_input_tokens", required=False
    )
    tools = r.section(usage, f"{where}.server_tool_use", required=False)
    searches = r.count(tools, f"{where}.server_tool_use.web_search_requests", required=False)
    return one_hour, searches


def _iteration_usage(r: _Reader, item: Any, path: str) -> Usage:
    """One `usage.iterations` entry in the normalised form (its cache counted in its input)."""
    uncached = r.count(item, f"{path}.input_tokens")
    cache_read = r.count(item, f"{path}.cache_read_input_tokens", required=False)
    cache_write = r.count(item, f"{path}.cache_creation_input_tokens", required=False)
    creation = r.section(item, f"{path}.cache_creation", required=False)
    one_hour = r.count(creation, f"{path}.cache_creation.ephemeral_1h_input_tokens", required=False)
    return r.usage(
        input=(uncached or 0) + (cache_read or 0) + (cache_write or 0),
        output=r.count(item, f"{path}.output_tokens"),
        cache_read=cache_read,
        cache_write=cache_write,
        cache_write_1h=one_hour,
    )


def _anthropic_iterations(
    r: _Reader, iterations: Any, where: str
) -> tuple[Usage | None, tuple[UsagePart, ...]]:
    """What `usage.iterations` adds to the top-level figures, and the other models' parts.

    Anthropic's API reference: `message` entries are the sampling iterations the top-level
    figures already sum; a `compaction` entry's tokens are *not* included in the top-level
    usage (the summary is made by the request's own model); an `advisor_message` entry is the
    advisor tool's sub-inference on the `model` it names, reported beside the executor's
    figures. Any other type is named in a note and not counted: whether the top level holds it
    is unknown, and counting it twice would be worse than saying so.
    """
    if iterations is None:
        return None, ()
    if not isinstance(iterations, list | tuple):
        raise r.fail(f"field '{where}' is {type(iterations).__name__}; expected a list")
    added: Usage | None = None
    parts: list[UsagePart] = []
    for index, item in enumerate(iterations):
        path = f"{where}[{index}]"
        kind = _get(item, "type")
        if kind == "message":
            continue
        if kind == "compaction":
            usage = _iteration_usage(r, item, path)
            added = usage if added is None else added + usage
        elif kind == "advisor_message":
            model = _get(item, "model")
            if model is not _MISSING and model is not None and not isinstance(model, str):
                raise r.fail(f"field '{path}.model' is {model!r}; expected a string")
            parts.append(
                UsagePart(
                    model if isinstance(model, str) else None,
                    _iteration_usage(r, item, path),
                    "advisor",
                )
            )
        else:
            r.notes.append(
                f"{r.kind}: '{path}' is of type {kind!r}, which this version does not read; "
                "its tokens are not counted"
            )
    return added, tuple(parts)


def _anthropic_message(payload: Any) -> ObservedUsage:
    r = _Reader(payload, "Anthropic message")
    usage = _get(payload, "usage")
    if usage is _MISSING or usage is None:
        raise r.no_usage("field 'usage' is missing or null", complete=True)
    uncached = r.count(usage, "usage.input_tokens")
    cache_read = r.count(usage, "usage.cache_read_input_tokens", required=False)
    cache_write = r.count(usage, "usage.cache_creation_input_tokens", required=False)
    output_details = r.section(usage, "usage.output_tokens_details", required=False)
    one_hour, searches = _anthropic_extras(r, usage, "usage")
    if uncached is None:  # pragma: no cover - a required count raises first
        raise r.fail("field 'usage.input_tokens' is missing")
    result = r.usage(
        input=uncached + (cache_read or 0) + (cache_write or 0),
        output=r.count(usage, "usage.output_tokens"),
        cache_read=cache_read,
        cache_write=cache_write,
        # Anthropic bills thinking as output but only sometimes says how much of it there was.
        reasoning=r.count(
            output_details, "usage.output_tokens_details.thinking_tokens", required=False
        ),
        cache_write_1h=one_hour,
        web_searches=searches,
    )
    added, parts = _anthropic_iterations(
        r, r.section(usage, "usage.iterations", required=False), "usage.iterations"
    )
    if added is not None:
        result = r.checked(result + added)
    return ObservedUsage(
        result, r.model(), "anthropic", "anthropic.message", parts=parts, notes=tuple(r.notes)
    )


def _gemini(payload: Any) -> ObservedUsage:
    r = _Reader(payload, "Gemini generateContent response")
    meta = _get(payload, "usageMetadata")
    if meta is _MISSING or meta is None:
        raise r.no_usage("field 'usageMetadata' is missing or null", complete=True)
    prompt = r.count(meta, "usageMetadata.promptTokenCount")
    # Built-in tools' prompts (search grounding, URL context, file search): billed as input,
    # counted beside promptTokenCount (and inside totalTokenCount).
    tool_use = r.count(meta, "usageMetadata.toolUsePromptTokenCount", required=False)
    thoughts = r.count(meta, "usageMetadata.thoughtsTokenCount", required=False)
    candidates = r.count(meta, "usageMetadata.candidatesTokenCount", required=False)
    if candidates is None:
        # Absent in prompt-only snapshots; the total then says there were none.
        total = r.count(meta, "usageMetadata.totalTokenCount")
        if prompt is None or total is None or total != prompt + (tool_use or 0) + (thoughts or 0):
            raise r.fail(
                "field 'usageMetadata.candidatesTokenCount' is missing and totalTokenCount "
                f"({total}) does not show it to be 0"
            )
        candidates = 0
    model = _get(payload, "modelVersion")
    reported_total = r.count(meta, "usageMetadata.totalTokenCount", required=False)
    if prompt is None:  # pragma: no cover - a required count raises first
        raise r.fail("field 'usageMetadata.promptTokenCount' is missing")
    result = r.usage(
        input=prompt + (tool_use or 0),
        output=candidates + (thoughts or 0),
        cache_read=r.count(meta, "usageMetadata.cachedContentTokenCount", required=False),
        reasoning=thoughts,
    )
    return ObservedUsage(
        result,
        model if isinstance(model, str) else None,
        "google",
        "gemini",
        reported_total=reported_total,
        notes=tuple(r.notes),
    )


def _decode(payload: Any) -> Any:
    if isinstance(payload, bytes | bytearray):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadablePayloadError(
                f"cannot read usage from bytes: not UTF-8 ({exc.reason} at byte {exc.start})"
            ) from exc
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except json.JSONDecodeError as exc:
            raise UnreadablePayloadError(
                f"cannot read usage from str: it is not JSON ({exc.msg} at line {exc.lineno})"
            ) from exc
    return payload


def usage_from(payload: Any, provider: str | None = None) -> ObservedUsage:
    """Normalised usage, model and provider of one provider response (or a list of stream
    chunks/events).

    Accepts the OpenAI SDK's `ChatCompletion` and `Response`, the Anthropic SDK's `Message`,
    Gemini responses, their plain-dict forms and their JSON text. `provider` names who served
    the call (``"openrouter"`` for a gateway, so that its prices apply) and tells how to read a
    payload that does not say what it is (``"anthropic"`` for a message without ``type``).
    """
    observed = _read(_decode(payload), provider)
    if provider is None or provider == observed.provider:
        return observed
    return replace(observed, provider=provider)


def _read(payload: Any, provider: str | None) -> ObservedUsage:
    object_type = _get(payload, "object")
    message_type = _get(payload, "type")
    usage = _get(payload, "usage")
    if object_type == "chat.completion" or (
        object_type is _MISSING and _get(usage, "prompt_tokens") is not _MISSING
    ):
        return _openai(payload, "openai.chat", "OpenAI chat completion", "prompt", "completion")
    if object_type == "response":
        return _openai(payload, "openai.responses", "OpenAI Responses response", "input", "output")
    if object_type == "response.compaction":
        return _openai(
            payload, "openai.responses.compact", "OpenAI Responses compaction", "input", "output"
        )
    if message_type == "message":
        return _anthropic_message(payload)
    if _get(payload, "usageMetadata") is not _MISSING:
        return _gemini(payload)
    if isinstance(payload, list):
        return usage_from_stream(payload)
    if provider == "anthropic" and _get(usage, "input_tokens") is not _MISSING:
        return _anthropic_message(payload)
    if provider is not None and _get(usage, "input_tokens") is not _MISSING:
        return _openai(payload, "openai.responses", "OpenAI Responses response", "input", "output")
    raise UnreadablePayloadError(
        f"cannot read usage from {type(payload).__name__}: not an OpenAI ChatCompletion "
        "(object='chat.completion'), OpenAI Response (object='response'), Anthropic Message "
        "(type='message') or Gemini response (usageMetadata); pass usage=Usage(...) to "
        "record() instead"
    )


def _event_type(event: Any) -> str:
    kind = _get(event, "type")
    if isinstance(kind, str):
        return kind
    obj = _get(event, "object")
    if obj == "chat.completion.chunk":
        return "chat.completion.chunk"
    if _get(event, "usageMetadata") is not _MISSING or _get(event, "candidates") is not _MISSING:
        return "gemini.chunk"
    return ""


def _anthropic_stream(events: list[Any]) -> ObservedUsage:
    start = next((e for e in events if _get(e, "type") == "message_start"), None)
    if start is None:
        raise MissingUsageError(
            "cannot read usage from an Anthropic stream without a message_start event (the "
            "stream ended before its usage arrived)",
            complete=False,
        )
    message = _get(start, "message")
    r = _Reader(start, "Anthropic stream")
    usage = r.section(message, "message_start.message.usage")
    figures = {
        key: r.count(usage, f"message_start.message.usage.{key}", required=key == "input_tokens")
        for key in _ANTHROPIC_COUNTS
    }
    one_hour, searches = _anthropic_extras(r, usage, "message_start.message.usage")
    iterations = r.section(usage, "message_start.message.usage.iterations", required=False)
    iterations_path = "message_start.message.usage.iterations"
    thinking = None
    deltas = [e for e in events if _get(e, "type") == "message_delta"]
    for delta in deltas:
        # Cumulative: the last figure given wins. A field a delta leaves out (an empty
        # `usage: {}` included) brings no new figure, so the earlier one stands.
        delta_usage = r.section(delta, "message_delta.usage")
        for key in figures:
            value = r.count(delta_usage, f"message_delta.usage.{key}", required=False)
            if value is not None:
                figures[key] = value
        details = r.section(
            delta_usage, "message_delta.usage.output_tokens_details", required=False
        )
        value = r.count(
            details, "message_delta.usage.output_tokens_details.thinking_tokens", required=False
        )
        if value is not None:
            thinking = value
        delta_one_hour, delta_searches = _anthropic_extras(r, delta_usage, "message_delta.usage")
        one_hour = one_hour if delta_one_hour is None else delta_one_hour
        searches = searches if delta_searches is None else delta_searches
        # Cumulative like the counts: the last list given is the whole request's.
        delta_iterations = r.section(delta_usage, "message_delta.usage.iterations", required=False)
        if delta_iterations is not None:
            iterations, iterations_path = delta_iterations, "message_delta.usage.iterations"
    if not deltas:
        raise MissingUsageError(
            "cannot read usage from an Anthropic stream that ended before its message_delta "
            "(the final output_tokens); the stream was cut short",
            complete=False,
        )
    if figures["output_tokens"] is None:
        raise r.fail(
            "no output_tokens in message_start.message.usage nor in any message_delta.usage"
        )
    cache_read, cache_write = (
        figures["cache_read_input_tokens"],
        figures["cache_creation_input_tokens"],
    )
    uncached = figures["input_tokens"] or 0  # required in message_start: never None here
    result = r.usage(
        input=uncached + (cache_read or 0) + (cache_write or 0),
        output=figures["output_tokens"],
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=thinking,
        cache_write_1h=one_hour,
        web_searches=searches,
    )
    added, parts = _anthropic_iterations(r, iterations, iterations_path)
    if added is not None:
        result = r.checked(result + added)
    model = _get(message, "model")
    return ObservedUsage(
        result,
        model if isinstance(model, str) else None,
        "anthropic",
        "anthropic.stream",
        parts=parts,
        notes=tuple(r.notes),
    )


_ANTHROPIC_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _groq_usage(items: list[Any]) -> list[Any]:
    """Groq sends a default chat stream's usage (no ``stream_options``) in its own ``x_groq``
    block of the last chunk, in OpenAI's field names: that block as a chunk's ``usage``."""
    found = []
    for item in items:
        extra = _get(item, "x_groq")
        if extra in (_MISSING, None):
            continue
        usage = _get(extra, "usage")
        if usage not in (_MISSING, None):
            found.append({"usage": usage})
    return found


def usage_from_stream(events: Any) -> ObservedUsage:
    """Final usage of a streamed response: its chunks or events (SDK objects or dicts).

    OpenAI Chat chunks (with ``stream_options.include_usage``), OpenAI Responses events (usage
    in ``response.completed``), Anthropic events and Gemini chunks. A stream that ended before
    its usage arrived raises `UnreadablePayloadError`; nothing is guessed.
    """
    items = [_decode(event) for event in events]
    kinds = {_event_type(event) for event in items} - {""}
    if not items or not kinds:
        raise UnreadablePayloadError("cannot read usage from a stream with no recognisable events")
    if "chat.completion.chunk" in kinds:
        with_usage = [e for e in items if _get(e, "usage") not in (_MISSING, None)]
        if not with_usage:
            with_usage = _groq_usage(items)
        if not with_usage:
            if _chat_stream_finished(items):
                raise MissingUsageError(
                    "cannot read usage from an OpenAI chat stream: it finished (a choice has "
                    "its finish_reason) but no chunk carries usage; the provider sends none "
                    "unless stream_options.include_usage is set",
                    complete=True,
                )
            raise MissingUsageError(
                "cannot read usage from an OpenAI chat stream: it ended before any chunk "
                "carried usage (no choice has a finish_reason: the stream was cut short)",
                complete=False,
            )
        last = with_usage[-1]
        observed = _openai(
            last, "openai.chat.stream", "OpenAI chat stream chunk", "prompt", "completion"
        )
        if observed.model is None:
            model = next(
                (_get(e, "model") for e in items if isinstance(_get(e, "model"), str)), None
            )
            observed = replace(observed, model=model)
        return observed
    if any(kind.startswith("response.") for kind in kinds):
        return _responses_stream(items)
    if kinds & {"message_start", "message_delta", "message_stop"}:
        return _anthropic_stream(items)
    if "gemini.chunk" in kinds:
        with_usage = [e for e in items if _get(e, "usageMetadata") not in (_MISSING, None)]
        if not with_usage:
            finished = any(
                _get(candidate, "finishReason") not in (_MISSING, None)
                for e in items
                for candidate in _list(_get(e, "candidates"))
            )
            raise MissingUsageError(
                "cannot read usage from a Gemini stream: no chunk carries usageMetadata"
                + (
                    " (it finished: a candidate has its finishReason)"
                    if finished
                    else " (the stream ended before its usage arrived)"
                ),
                complete=finished,
            )
        last = _gemini(with_usage[-1])
        model = last.model or next(
            (
                _get(e, "modelVersion")
                for e in reversed(items)
                if isinstance(_get(e, "modelVersion"), str)
            ),
            None,
        )
        return replace(last, model=model, kind="gemini.stream")
    raise UnreadablePayloadError(f"cannot read usage from a stream of {sorted(kinds)} events")


def _list(value: Any) -> list[Any] | tuple[Any, ...]:
    return value if isinstance(value, list | tuple) else ()


def _chat_stream_finished(items: list[Any]) -> bool:
    """Whether a chat stream reached its end: a choice of some chunk has its finish_reason."""
    return any(
        _get(choice, "finish_reason") not in (_MISSING, None)
        for e in items
        for choice in _list(_get(e, "choices"))
    )


#: The events that end an OpenAI Responses stream with the response's final usage: a response
#: stopped early (`max_output_tokens`, a content filter) ends in `response.incomplete`, and was
#: billed for what it used just the same; a failed one may carry usage too.
_RESPONSES_FINAL = ("response.completed", "response.incomplete", "response.failed")


def _responses_stream(items: list[Any]) -> ObservedUsage:
    final = [e for e in items if _get(e, "type") in _RESPONSES_FINAL]
    response = _get(final[-1], "response") if final else _MISSING
    if not final:
        raise MissingUsageError(
            "cannot read usage from an OpenAI Responses stream without response.completed or "
            "response.incomplete (the stream was cut short)",
            complete=False,
        )
    if _get(final[-1], "type") == "response.failed" and _get(response, "usage") in (
        _MISSING,
        None,
    ):
        raise MissingUsageError(
            "cannot read usage from an OpenAI Responses stream: the response failed without "
            "usage (response.failed)",
            complete=True,
        )
    return _openai(
        response, "openai.responses.stream", "OpenAI Responses stream", "input", "output"
    )


def parse_body(body: bytes | str) -> Any:
    """A raw HTTP response body as data: gunzipped if needed; SSE becomes a list of events.

    JSON bodies give their value (a JSON array is a Gemini stream); server-sent events give the
    list of their ``data:`` objects, without ``[DONE]``.
    """
    import gzip

    if isinstance(body, bytes):
        try:
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            body = body.decode("utf-8")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise UnreadablePayloadError(
                f"cannot read a response body: it is neither UTF-8 nor valid gzip ({exc})"
            ) from exc
    text = body.strip()
    if text.startswith(("{", "[")):
        return _decode(text)
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(
            line[5:].lstrip() for line in block.splitlines() if line.startswith("data:")
        )
        if data and data != "[DONE]":
            try:
                events.append(json.loads(data))
            except json.JSONDecodeError as exc:
                raise UnreadablePayloadError(
                    f"cannot read a server-sent event: its data is not JSON ({exc.msg}): "
                    f"{data[:80]!r}"
                ) from exc
    if not events:
        raise UnreadablePayloadError("cannot read usage from an empty response body")
    return events


def usage_from_body(body: bytes | str) -> ObservedUsage:
    """Usage of a raw HTTP response body: JSON, server-sent events, or a JSON array stream."""
    data = parse_body(body)
    return usage_from_stream(data) if isinstance(data, list) else usage_from(data)
