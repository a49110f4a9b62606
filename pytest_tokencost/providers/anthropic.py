"""Anthropic's usage: Messages responses and their stream events.

* `input_tokens` *excludes* cache reads and writes: `input_with_cache` (in `cache`) adds them
  back, the one place this package does so (Claude Code transcripts and Bedrock's Converse,
  which share the convention, call it too).
* Streams: `message_start` carries the first figures, each `message_delta` cumulative ones;
  the last delta wins, its `input_tokens` too (server tools make the input grow). A field a
  delta leaves out (an empty `usage: {}` included) brings no new figure.
* `usage.iterations` (one entry per sampling iteration inside the request): `message` entries
  are already inside the top-level figures; a `compaction` entry (server-side context
  compaction) is *not*, so its tokens are added to them (same model); an `advisor_message`
  entry is the advisor tool's sub-inference on another model, also outside the top level: it
  becomes a `UsagePart` of that model, priced at its own rates. In streams the last
  `iterations` given wins.
* Billable units beside tokens: `usage.cache_creation.ephemeral_1h_input_tokens` is kept as
  `cache_write_1h` (a part of `cache_write`); `usage.server_tool_use.web_search_requests` as
  `web_searches`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import MissingUsageError
from ..records import Usage
from .base import MISSING, ObservedUsage, Reader, UsagePart, get
from .cache import input_with_cache

__all__ = ["STREAM_EVENTS", "input_with_cache", "message", "stream"]

#: Event types that make a stream Anthropic's.
STREAM_EVENTS = frozenset({"message_start", "message_delta", "message_stop"})

_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _extras(r: Reader, usage: Any, where: str) -> tuple[int | None, int | None]:
    """(1-hour cache writes, web searches) of an Anthropic usage object, `None` if not said."""
    creation = r.section(usage, f"{where}.cache_creation", required=False)
    one_hour = r.count(
        creation, f"{where}.cache_creation.ephemeral_1h_input_tokens", required=False
    )
    tools = r.section(usage, f"{where}.server_tool_use", required=False)
    searches = r.count(tools, f"{where}.server_tool_use.web_search_requests", required=False)
    return one_hour, searches


def _iteration_usage(r: Reader, item: Any, path: str) -> Usage:
    """One `usage.iterations` entry in the normalised form (its cache counted in its input)."""
    uncached = r.count(item, f"{path}.input_tokens") or 0  # required: raises when absent
    cache_read = r.count(item, f"{path}.cache_read_input_tokens", required=False)
    cache_write = r.count(item, f"{path}.cache_creation_input_tokens", required=False)
    creation = r.section(item, f"{path}.cache_creation", required=False)
    one_hour = r.count(creation, f"{path}.cache_creation.ephemeral_1h_input_tokens", required=False)
    return r.usage(
        input=input_with_cache(uncached, cache_read, cache_write),
        output=r.count(item, f"{path}.output_tokens"),
        cache_read=cache_read,
        cache_write=cache_write,
        cache_write_1h=one_hour,
    )


def _advisor_part(r: Reader, item: Any, path: str) -> UsagePart:
    model = get(item, "model")
    if model is not MISSING and model is not None and not isinstance(model, str):
        raise r.fail(f"field '{path}.model' is {model!r}; expected a string")
    return UsagePart(
        model if isinstance(model, str) else None, _iteration_usage(r, item, path), "advisor"
    )


def _iterations(
    r: Reader, iterations: Any, where: str
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
        kind = get(item, "type")
        if kind == "compaction":
            usage = _iteration_usage(r, item, path)
            added = usage if added is None else added + usage
        elif kind == "advisor_message":
            parts.append(_advisor_part(r, item, path))
        elif kind != "message":
            r.notes.append(
                f"{r.kind}: '{path}' is of type {kind!r}, which this version does not read; "
                "its tokens are not counted"
            )
    return added, tuple(parts)


@dataclass
class _Figures:
    """An Anthropic usage as read so far: a message's, or a stream's running one."""

    counts: dict[str, int | None]
    thinking: int | None
    one_hour: int | None
    searches: int | None
    iterations: Any
    iterations_path: str

    @classmethod
    def read(cls, r: Reader, usage: Any, where: str, *, first: bool) -> _Figures:
        """The figures `usage` gives (`first`: `input_tokens` required, as in a message)."""
        details = r.section(usage, f"{where}.output_tokens_details", required=False)
        one_hour, searches = _extras(r, usage, where)
        return cls(
            {
                key: r.count(usage, f"{where}.{key}", required=first and key == "input_tokens")
                for key in _COUNTS
            },
            r.count(details, f"{where}.output_tokens_details.thinking_tokens", required=False),
            one_hour,
            searches,
            r.section(usage, f"{where}.iterations", required=False),
            f"{where}.iterations",
        )

    def update(self, later: _Figures) -> None:
        """Cumulative figures: each one a later event gives wins; one it leaves out stands."""
        for key, value in later.counts.items():
            if value is not None:
                self.counts[key] = value
        for name in ("thinking", "one_hour", "searches"):
            if getattr(later, name) is not None:
                setattr(self, name, getattr(later, name))
        if later.iterations is not None:  # the last list given is the whole request's
            self.iterations, self.iterations_path = later.iterations, later.iterations_path

    def observed(self, r: Reader, model: Any, kind: str) -> ObservedUsage:
        """The normalised usage: cache added to the input, iterations and parts applied."""
        cache_read = self.counts["cache_read_input_tokens"]
        cache_write = self.counts["cache_creation_input_tokens"]
        result = r.usage(
            input=input_with_cache(self.counts["input_tokens"] or 0, cache_read, cache_write),
            output=self.counts["output_tokens"],
            cache_read=cache_read,
            cache_write=cache_write,
            # Anthropic bills thinking as output but only sometimes says how much there was.
            reasoning=self.thinking,
            cache_write_1h=self.one_hour,
            web_searches=self.searches,
        )
        added, parts = _iterations(r, self.iterations, self.iterations_path)
        if added is not None:
            result = r.checked(result + added)
        return ObservedUsage(
            result,
            model if isinstance(model, str) else None,
            "anthropic",
            kind,
            parts=parts,
            notes=tuple(r.notes),
        )


def message(payload: Any) -> ObservedUsage:
    """An Anthropic Message (`type: message`) or a payload of that shape."""
    r = Reader(payload, "Anthropic message")
    usage = get(payload, "usage")
    if usage is MISSING or usage is None:
        raise r.no_usage("field 'usage' is missing or null", complete=True)
    figures = _Figures.read(r, usage, "usage", first=True)
    if figures.counts["output_tokens"] is None:
        r.count(usage, "usage.output_tokens")  # raises: the output count is required
    return figures.observed(r, r.model(), "anthropic.message")


def stream(events: list[Any]) -> ObservedUsage:
    """Anthropic stream events: `message_start`'s figures, updated by every `message_delta`."""
    start = next((e for e in events if get(e, "type") == "message_start"), None)
    if start is None:
        raise MissingUsageError(
            "cannot read usage from an Anthropic stream without a message_start event (the "
            "stream ended before its usage arrived)",
            complete=False,
        )
    message_ = get(start, "message")
    r = Reader(start, "Anthropic stream")
    where = "message_start.message.usage"
    figures = _Figures.read(r, r.section(message_, where), where, first=True)
    deltas = [e for e in events if get(e, "type") == "message_delta"]
    for delta in deltas:
        usage = r.section(delta, "message_delta.usage")
        figures.update(_Figures.read(r, usage, "message_delta.usage", first=False))
    if not deltas:
        raise MissingUsageError(
            "cannot read usage from an Anthropic stream that ended before its message_delta "
            "(the final output_tokens); the stream was cut short",
            complete=False,
        )
    if figures.counts["output_tokens"] is None:
        raise r.fail(
            "no output_tokens in message_start.message.usage nor in any message_delta.usage"
        )
    return figures.observed(r, get(message_, "model"), "anthropic.stream")
