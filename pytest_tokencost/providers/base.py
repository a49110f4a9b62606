"""What every provider reader shares: the `ObservedUsage` it returns, and field access whose
errors name the payload and the field (`Reader`).

A count is a non-negative integer no larger than `records.MAX_COUNT`; anything else is an
`UnreadablePayloadError`, never a guessed zero. Figures that contradict each other (reasoning
larger than the output that includes it) are kept as reported, the inconsistent part left
`None`, and said in `Reader.notes`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import MissingUsageError, UnreadablePayloadError
from ..money import usd_to_micro
from ..records import MAX_COUNT, Usage

__all__ = [
    "MISSING",
    "ObservedUsage",
    "Reader",
    "UsagePart",
    "decode",
    "get",
    "items_of",
    "reported_cost",
]

MISSING = object()


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


def get(obj: Any, key: str) -> Any:
    """`obj[key]` of a mapping, `obj.key` of an SDK object; `MISSING` when absent."""
    if isinstance(obj, Mapping):
        return obj.get(key, MISSING)
    return getattr(obj, key, MISSING)


class Reader:
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
        value = get(obj, path.rsplit(".", 1)[-1])
        if value is MISSING or value is None:
            if required:
                raise self.fail(f"field '{path}' is missing or null")
            return None
        return value

    def count(self, obj: Any, path: str, *, required: bool = True) -> int | None:
        if obj is None:
            if required:
                raise self.fail(f"field '{path}' is missing")
            return None
        value = get(obj, path.rsplit(".", 1)[-1])
        if value is MISSING or value is None:
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
        model = get(self.payload, "model")
        if model is MISSING or model is None:
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


def reported_cost(r: Reader, usage: Any) -> int | None:
    """OpenRouter's `usage.cost` (USD) in micro-USD, when present."""
    cost = get(usage, "cost")
    if cost is MISSING or cost is None:
        return None
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not cost >= 0:
        raise r.fail(f"field 'usage.cost' is {cost!r}; expected a non-negative number of USD")
    if cost == float("inf"):
        raise r.fail("field 'usage.cost' is infinite")
    return usd_to_micro(cost)


def items_of(value: Any) -> list[Any] | tuple[Any, ...]:
    """`value` if it is a list (or tuple), else nothing to iterate."""
    return value if isinstance(value, list | tuple) else ()


def decode(payload: Any) -> Any:
    """A payload given as bytes or JSON text, as data; anything else as it is."""
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
