"""The argument checks of `record()`: a cheap test that all is well, and the precise error.

`record()` tests the common case inline (only a model and a usage given); any other call goes
through `check_arguments`, two flat expressions over the arguments (no loop, no allocation);
only when one fails does `reject` work out which argument is wrong and say so.
"""

from __future__ import annotations

from typing import Any

from .records import Provenance

__all__ = ["NAME_TYPES", "bad_names", "bad_values", "check_arguments", "reject", "utf8_size"]

_PROVENANCES = frozenset(Provenance)
_INF = float("inf")
#: The types an optional name argument may have (``type(x) in NAME_TYPES``: no branch).
NAME_TYPES = (str, type(None))


def bad_names(
    step: object,
    case: object,
    model: object,
    provider: object,
    response_id: object,
    request_id: object,
) -> bool:
    """Whether any of the optional string arguments is something else."""
    return (
        (step is not None and type(step) is not str)
        or (case is not None and type(case) is not str)
        or (model is not None and type(model) is not str)
        or (provider is not None and type(provider) is not str)
        or (response_id is not None and type(response_id) is not str)
        or (request_id is not None and type(request_id) is not str)
    )


def bad_values(
    provenance: Any,
    reported_cost: Any,
    reported_total: Any,
    partial: object,
    late: object,
    replayed: object,
    wall_ms: Any,
) -> bool:
    """Whether the provenance, the reported figures, the flags or the wall clock are bad."""
    return (
        (provenance is not None and provenance not in _PROVENANCES)
        or (reported_cost is not None and (type(reported_cost) is not int or reported_cost < 0))
        or (reported_total is not None and (type(reported_total) is not int or reported_total < 0))
        or type(partial) is not bool
        or type(late) is not bool
        or type(replayed) is not bool
        or (wall_ms is not None and (type(wall_ms) not in (int, float) or not 0 <= wall_ms < _INF))
    )


def check_arguments(values: dict[str, Any]) -> None:
    """Check `record()`'s arguments (its `locals()`); raise for the first bad one."""
    if bad_names(
        values["step"],
        values["case"],
        values["model"],
        values["provider"],
        values["response_id"],
        values["request_id"],
    ) or bad_values(
        values["provenance"],
        values["reported_cost_micro_usd"],
        values["reported_total_tokens"],
        values["partial"],
        values["late"],
        values["replayed"],
        values["wall_ms"],
    ):
        reject(values)


def reject(values: dict[str, Any]) -> None:
    """Raise for the first argument of `record()` (its `locals()`) that is not what it must be."""
    for name in ("step", "case", "model", "provider", "response_id", "request_id"):
        value = values[name]
        if value is not None and type(value) is not str:
            raise TypeError(f"record(): {name} must be a string, got {value!r}")
    provenance = values["provenance"]
    if provenance is not None and provenance not in _PROVENANCES:
        raise ValueError(
            f"record(): provenance must be one of {', '.join(p.value for p in Provenance)}, "
            f"got {provenance!r}"
        )
    for name in ("reported_cost_micro_usd", "reported_total_tokens"):
        value = values[name]
        if value is not None and (type(value) is not int or value < 0):
            raise TypeError(f"record(): {name} must be a non-negative int, got {value!r}")
    for name in ("partial", "late", "replayed"):
        if type(values[name]) is not bool:
            raise TypeError(f"record(): {name} must be True or False, got {values[name]!r}")
    raise ValueError(
        f"record(): wall_ms must be a finite non-negative number, got {values['wall_ms']!r}"
    )


def utf8_size(text: str | None) -> int | None:
    """The UTF-8 size of a prompt or artifact text (None for none); `TypeError` for a non-str."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"record(): prompt and artifact must be str, got {type(text).__name__}")
    return len(text.encode("utf-8"))
