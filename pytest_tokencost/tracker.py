"""Trackers: where records are made, attributed to case and step scopes, and summarised.

`record()` is on the hot path of every LLM call a suite makes, so it only validates its
arguments and appends a tuple under a lock; records are built (and priced, which takes about
0.1 ms per record with genai-prices) only when someone asks for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from .counting import counter_for
from .pricing import Pricer
from .providers import usage_from
from .records import Provenance, ScopeRun, TokenRecord, Usage
from .summary import TokenSummary

__all__ = ["InMemoryTokenTracker", "TokenTracker"]


@runtime_checkable
class TokenTracker(Protocol):
    """What every tracker offers: make records, read provider responses, summarise."""

    def record(
        self,
        *,
        step: str | None = None,
        case: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        usage: Usage | None = None,
        prompt: str | None = None,
        artifact: str | None = None,
        wall_ms: float | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        """Record one call or step, from a known `usage` or from `prompt`/`artifact` texts."""
        ...

    def observe(self, response: Any, *, step: str | None = None, case: str | None = None) -> Usage:
        """Record the usage a provider reported in `response`; return it."""
        ...

    def summary(self) -> TokenSummary:
        """Totals and breakdowns of everything recorded so far."""
        ...


class _Scope(NamedTuple):
    case: str | None
    step: str | None


class _Entry(NamedTuple):
    timestamp: float
    case: str | None
    step: str | None
    model: str | None
    provider: str | None
    usage: Usage
    provenance: Provenance
    prompt_bytes: int | None
    artifact_bytes: int | None
    wall_ms: float | None
    own_step: bool


_REPORTED = Provenance.REPORTED


class _Run(NamedTuple):
    kind: Literal["case", "step"]
    case: str | None
    step: str | None
    wall_ms: float | None


_NO_SCOPE = _Scope(None, None)


def _reject_arguments(**values: object) -> None:
    for name in ("step", "case", "model"):
        value = values[name]
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {value!r}")
    raise ValueError(f"wall_ms must be a non-negative number, got {values['wall_ms']!r}")


def _utf8_size(text: str | None) -> int | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"prompt and artifact must be str, got {type(text).__name__}")
    return len(text.encode("utf-8"))


def _check_name(kind: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{kind} must be a non-empty string, got {value!r}")


class InMemoryTokenTracker:
    """A thread-safe tracker that keeps its records in memory.

    Scopes nest: ``with tracker.case("c1"): with tracker.step("triage"): ...`` attributes every
    record inside to case ``c1`` and step ``triage`` (nested steps join with ``/``). Scopes follow
    `contextvars`, so concurrent asyncio tasks each keep their own.
    """

    def __init__(self, *, test_id: str | None = None, pricer: Pricer | None = None) -> None:
        self.test_id = test_id
        self._pricer = pricer
        self._lock = threading.Lock()
        self._entries: list[tuple[Any, ...]] = []  # _Entry fields, as plain tuples for speed
        self._runs: list[_Run] = []
        self._built: list[TokenRecord] = []
        self._scope: ContextVar[_Scope] = ContextVar(
            f"tokencost_scope_{id(self)}", default=_NO_SCOPE
        )

    # -- scopes -----------------------------------------------------------------------------

    @contextmanager
    def case(self, case_id: str) -> Iterator[None]:
        """Attribute records made inside to calibration case `case_id`; time the case."""
        _check_name("case id", case_id)
        outer = self._scope.get()
        token = self._scope.set(_Scope(case_id, outer.step))
        started = time.perf_counter()
        try:
            yield
        finally:
            self._scope.reset(token)
            self._add_run("case", case_id, None, started)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Attribute records made inside to step `name`; time the step."""
        _check_name("step name", name)
        outer = self._scope.get()
        path = name if outer.step is None else f"{outer.step}/{name}"
        token = self._scope.set(_Scope(outer.case, path))
        started = time.perf_counter()
        try:
            yield
        finally:
            self._scope.reset(token)
            self._add_run("step", outer.case, path, started)

    def _add_run(
        self, kind: Literal["case", "step"], case: str | None, step: str | None, started: float
    ) -> None:
        run = _Run(kind, case, step, (time.perf_counter() - started) * 1000.0)
        with self._lock:
            self._runs.append(run)

    # -- recording --------------------------------------------------------------------------

    def record(
        self,
        *,
        step: str | None = None,
        case: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        usage: Usage | None = None,
        prompt: str | None = None,
        artifact: str | None = None,
        wall_ms: float | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        """Record one call or step.

        Give `usage` (provenance `reported` unless said otherwise) or the `prompt` and/or
        `artifact` texts, which are counted with the model's tokenizer (`counted`) or, for
        models without a public one, estimated at bytes/4 (`estimated`). With both, the texts
        only give the record its byte sizes. Texts are never stored.
        """
        if usage is not None:
            if type(usage) is not Usage and not isinstance(usage, Usage):
                raise TypeError(
                    f"usage must be a pytest_tokencost.Usage, got {type(usage).__name__}; "
                    "use observe() for a provider response"
                )
            prompt_bytes = artifact_bytes = None
            if prompt is not None or artifact is not None:
                prompt_bytes, artifact_bytes = _utf8_size(prompt), _utf8_size(artifact)
            kind = provenance or _REPORTED
        else:
            usage, prompt_bytes, artifact_bytes, kind = self._count(model, prompt, artifact)
            kind = provenance or kind
        if (
            (step is not None and type(step) is not str)
            or (case is not None and type(case) is not str)
            or (model is not None and type(model) is not str)
            or (wall_ms is not None and not (isinstance(wall_ms, int | float) and wall_ms >= 0))
        ):
            _reject_arguments(step=step, case=case, model=model, wall_ms=wall_ms)
        scope_case, scope_step = self._scope.get()
        # list.append is atomic (also on free-threaded builds), so the hot path takes no lock.
        self._entries.append(
            (
                time.time(),
                case or scope_case,
                step or scope_step,
                model,
                provider,
                usage,
                kind,
                prompt_bytes,
                artifact_bytes,
                wall_ms,
                # A record outside any step scope (or naming another step) is a step of its own.
                scope_step is None or (step is not None and step != scope_step),
            )
        )

    @staticmethod
    def _count(
        model: str | None, prompt: str | None, artifact: str | None
    ) -> tuple[Usage, int | None, int | None, Provenance]:
        if prompt is None and artifact is None:
            raise TypeError("record() needs usage=Usage(...) or prompt=/artifact= texts")
        counter = counter_for(model)
        counts = [0, 0]
        sizes: list[int | None] = [None, None]
        for index, (label, text) in enumerate((("prompt", prompt), ("artifact", artifact))):
            if text is None:
                continue
            if not isinstance(text, str):
                raise TypeError(f"{label} must be a str, got {type(text).__name__}")
            counts[index] = counter.count(text)
            sizes[index] = len(text.encode("utf-8"))
        usage = Usage.model_construct(
            input=counts[0], output=counts[1], cache_read=None, cache_write=None, reasoning=None
        )
        return usage, sizes[0], sizes[1], counter.provenance

    def observe(self, response: Any, *, step: str | None = None, case: str | None = None) -> Usage:
        """Record the usage reported in an OpenAI or Anthropic response (object, dict or JSON).

        The model and provider are taken from the response. Raises
        `UnreadablePayloadError` (naming the type and field) for anything it cannot read.
        """
        observed = usage_from(response)
        self.record(
            step=step,
            case=case,
            model=observed.model,
            provider=observed.provider,
            usage=observed.usage,
            provenance=Provenance.REPORTED,
        )
        return observed.usage

    # -- reading ----------------------------------------------------------------------------

    def _pricer_or_default(self) -> Pricer:
        if self._pricer is None:
            self._pricer = Pricer()
        return self._pricer

    def records(self) -> list[TokenRecord]:
        """All records so far, priced, in the order they were made."""
        with self._lock:
            pending = self._entries[len(self._built) :]
            start = len(self._built)
        built = [
            self._build(start + offset, _Entry._make(entry)) for offset, entry in enumerate(pending)
        ]
        with self._lock:
            if len(self._built) == start:
                self._built.extend(built)
            return list(self._built)

    def scope_runs(self) -> list[ScopeRun]:
        """Closed case and step scopes (and records that were steps of their own)."""
        with self._lock:
            runs = list(self._runs)
        runs.extend(
            _Run("step", entry.case, entry.step, entry.wall_ms)
            for entry in map(_Entry._make, list(self._entries))
            if entry.own_step
        )
        return [
            ScopeRun(
                kind=run.kind,
                test_id=self.test_id,
                case_id=run.case,
                step=run.step,
                wall_ms=run.wall_ms,
            )
            for run in runs
        ]

    def _build(self, seq: int, entry: _Entry) -> TokenRecord:
        timestamp = datetime.fromtimestamp(entry.timestamp, UTC)
        price = self._pricer_or_default().price(entry.model, entry.provider, entry.usage, timestamp)
        return TokenRecord(
            seq=seq,
            test_id=self.test_id,
            case_id=entry.case,
            step=entry.step,
            provider=entry.provider,
            model=entry.model,
            usage=entry.usage,
            provenance=entry.provenance,
            prompt_bytes=entry.prompt_bytes,
            artifact_bytes=entry.artifact_bytes,
            timestamp=timestamp,
            wall_ms=entry.wall_ms,
            cost_micro_usd=price.total_micro_usd,
            input_cost_micro_usd=price.input_micro_usd,
            output_cost_micro_usd=price.output_micro_usd,
            price_source=price.source,
            priced_as=price.priced_as,
        )

    def summary(self) -> TokenSummary:
        """Totals and breakdowns of everything recorded so far, priced."""
        return TokenSummary.from_records(self.records(), self.scope_runs())

    def __len__(self) -> int:
        return len(self._entries)
