"""What a tracker keeps of one record until someone asks for it: a slotted, unpriced entry.

`record()` is on the hot path of every LLM call a suite makes, so it stores an `Entry` and
nothing more; `TokenRecord`s (pydantic, priced) are built from entries only when read.

`Entry` is a named tuple: slotted (no instance ``__dict__``), read by field name everywhere,
and made with ``tuple.__new__(Entry, values)`` straight from its values. On this project's
interpreter (CPython 3.11 without PGO) a Python-level ``__init__`` of 20 fields, as
``@dataclass(slots=True)`` writes, costs 0.5-0.9 µs a record, half the hot path's budget;
making the tuple costs 0.2 µs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .records import Provenance, Usage

__all__ = ["Entry"]


class Entry(NamedTuple):
    """One record as made: its attribution, usage, provenance and identity, not yet priced.

    Its place in the tracker's list is its `TokenRecord.seq`.
    """

    timestamp: float
    scenario: str | None
    case: str | None
    step: str | None
    model: str | None
    provider: str | None
    usage: Usage
    provenance: Provenance
    prompt_bytes: int | None
    artifact_bytes: int | None
    wall_ms: float | None
    #: A record outside any step scope (or naming another step) is a step run of its own.
    own_step: bool
    reported_cost: int | None
    partial: bool
    reported_total: int | None
    response_id: str | None
    request_id: str | None
    late: bool
    replayed: bool
