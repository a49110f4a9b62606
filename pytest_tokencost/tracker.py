"""Trackers: where records are made, attributed to case and step scopes, and summarised.

`record()` is on the hot path of every LLM call a suite makes, so it only validates its
arguments and appends a tuple under a lock; records are built (and priced, which takes about
0.1 ms per record with genai-prices) only when someone asks for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable

from .budget import BudgetScope, Channel, TokenBudgetExceeded, limits_from_kwargs
from .errors import TokenCostError
from .pricing import Price, Pricer
from .record_builder import record_fields
from .records import Provenance, ScopeRun, TokenRecord, Usage
from .summary import TokenSummary

__all__ = ["InMemoryTokenTracker", "TokenTracker", "UnpricedUnderBudget"]

if TYPE_CHECKING:
    from .ledger import BudgetLedger
    from .providers import ObservedUsage


class UnpricedUnderBudget(TokenCostError):
    """A USD budget covers a record whose model has no known price."""


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

    def observe(
        self,
        response: Any,
        *,
        step: str | None = None,
        case: str | None = None,
        provider: str | None = None,
    ) -> Usage:
        """Record the usage a provider reported in `response`; return it."""
        ...

    def summary(self) -> TokenSummary:
        """Totals and breakdowns of everything recorded so far."""
        ...


class _Scope(NamedTuple):
    scenario: str | None
    case: str | None
    step: str | None
    budget: BudgetScope | None


class _Entry(NamedTuple):
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
    own_step: bool
    reported_cost: int | None
    partial: bool
    reported_total: int | None
    response_id: str | None
    request_id: str | None
    late: bool
    replayed: bool


_REPORTED = Provenance.REPORTED
_TOKENS, _INPUT, _OUTPUT = Channel.TOKENS, Channel.INPUT, Channel.OUTPUT
_PROVENANCES = frozenset(Provenance)
_INF = float("inf")


class _Run(NamedTuple):
    kind: Literal["case", "step"]
    scenario: str | None
    case: str | None
    step: str | None
    wall_ms: float | None


_NO_SCOPE = _Scope(None, None, None, None)


def _reject_arguments(values: dict[str, object]) -> None:
    """Raise for the first argument of `record()` that is not what it must be."""
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


def _utf8_size(text: str | None) -> int | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"record(): prompt and artifact must be str, got {type(text).__name__}")
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

    def __init__(
        self,
        *,
        test_id: str | None = None,
        pricer: Pricer | None = None,
        budget: BudgetScope | None = None,
        ledger: BudgetLedger | None = None,
        warn: Callable[[str], None] | None = None,
        run_id: str | None = None,
        attempt: int = 1,
    ) -> None:
        self.test_id = test_id
        self.run_id = run_id
        self.attempt = attempt
        self._pricer = pricer
        self.budget = budget
        self._ledger = ledger
        # Only a tracker with a budget somewhere pays for charging on record().
        self._budgeted = ledger is not None or (budget is not None and budget.limited)
        self.budget_scopes: list[BudgetScope] = [budget] if budget and budget.pools else []
        self.warnings: list[str] = []  # budget warnings, capture problems
        #: Responses recorded again (by capture and observe(), or observe() twice): not counted.
        self.duplicates = 0
        #: The first budget this tracker's records crossed (or a USD budget they could not
        #: price): kept even when the code under test catches the exception, so the test fails.
        self.crossed: TokenCostError | None = None
        self._seen: set[str] = set()
        self._prices: dict[int, Price] = {}
        self._warn = warn
        if budget is not None:
            budget.on_warn = self._on_warn
        self._lock = threading.Lock()
        self._entries: list[tuple[Any, ...]] = []  # _Entry fields, as plain tuples for speed
        self._runs: list[_Run] = []
        self._built: list[TokenRecord] = []
        self._built_upto = 0
        #: Records that could not be built (and so are not in `records()`), named.
        self.build_errors: list[str] = []
        self._scope: ContextVar[_Scope] = ContextVar(
            f"tokencost_scope_{id(self)}", default=_NO_SCOPE
        )

    def _on_warn(self, scope: BudgetScope, channel: Channel, used: int, limit: int) -> None:
        from .budget import _amount, channel_name

        message = (
            f"budget warning: {scope.name} reached {100 * used / limit:.0f}% of its "
            f"{channel_name(channel)} budget ({_amount(channel, used)} of "
            f"{_amount(channel, limit)})"
        )
        self.warnings.append(message)
        if self._warn is not None:
            self._warn(message)

    # -- scopes -----------------------------------------------------------------------------

    def _budget_for(self, name: str, limits: dict[str, float | None]) -> BudgetScope | None:
        outer = self._scope.get().budget or self.budget
        given = {key: value for key, value in limits.items() if value is not None}
        if not given:
            return outer
        parsed = limits_from_kwargs(given, name)
        if outer is None:
            outer = self.budget = BudgetScope(f"test {self.test_id}", on_warn=self._on_warn)
        scope = outer.child(name, parsed)
        self.budget_scopes.append(scope)
        self._budgeted = True
        return scope

    @contextmanager
    def case(
        self,
        case_id: str,
        *,
        scenario: str | None = None,
        max_tokens: float | None = None,
        max_input: float | None = None,
        max_output: float | None = None,
        max_usd: float | None = None,
    ) -> Iterator[None]:
        """Attribute records made inside to calibration case `case_id`; time the case.

        `scenario` names the calibration scenario the case belongs to: scenarios may share
        case ids, and their records are told apart by it. `max_*` set a budget for the case
        (`max_usd` in dollars), checked at every record.
        """
        _check_name("case id", case_id)
        if scenario is not None:
            _check_name("scenario", scenario)
        outer = self._scope.get()
        budget = self._budget_for(
            f"case {case_id}",
            {
                "max_tokens": max_tokens,
                "max_input": max_input,
                "max_output": max_output,
                "max_usd": max_usd,
            },
        )
        token = self._scope.set(_Scope(scenario, case_id, outer.step, budget))
        started = time.perf_counter()
        try:
            yield
        finally:
            self._scope.reset(token)
            self._add_run("case", scenario, case_id, None, started)

    @contextmanager
    def step(
        self,
        name: str,
        *,
        max_tokens: float | None = None,
        max_input: float | None = None,
        max_output: float | None = None,
        max_usd: float | None = None,
    ) -> Iterator[None]:
        """Attribute records made inside to step `name`; time the step.

        `max_*` set a budget for the step (`max_usd` in dollars), checked at every record.
        """
        _check_name("step name", name)
        if "/" in name:
            raise ValueError(
                f"step name {name!r} contains '/', which joins nested steps (outer/inner): "
                "nest two step() scopes instead"
            )
        outer = self._scope.get()
        path = name if outer.step is None else f"{outer.step}/{name}"
        budget = self._budget_for(
            f"step {path}",
            {
                "max_tokens": max_tokens,
                "max_input": max_input,
                "max_output": max_output,
                "max_usd": max_usd,
            },
        )
        token = self._scope.set(_Scope(outer.scenario, outer.case, path, budget))
        started = time.perf_counter()
        try:
            yield
        finally:
            self._scope.reset(token)
            self._add_run("step", outer.scenario, outer.case, path, started)

    def _add_run(
        self,
        kind: Literal["case", "step"],
        scenario: str | None,
        case: str | None,
        step: str | None,
        started: float,
    ) -> None:
        run = _Run(kind, scenario, case, step, (time.perf_counter() - started) * 1000.0)
        with self._lock:
            self._runs.append(run)

    def current_scope(self) -> tuple[str | None, str | None]:
        """The (case, step) that a record made now would be attributed to."""
        scope = self._scope.get()
        return scope.case, scope.step

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
        reported_cost_micro_usd: int | None = None,
        partial: bool = False,
        reported_total_tokens: int | None = None,
        response_id: str | None = None,
        request_id: str | None = None,
        late: bool = False,
        replayed: bool = False,
    ) -> None:
        """Record one call or step.

        Give `usage` (provenance `reported` unless said otherwise) or the `prompt` and/or
        `artifact` texts, which are counted with the model's tokenizer (`counted`) or, for
        models without a public one, estimated at bytes/4 (`estimated`). With both, the texts
        only give the record its byte sizes. Texts are never stored.

        `response_id` is the provider's id of the response: a response recorded again (by
        `--cost-capture` and `observe()`, say) counts once. `late` marks the late answer of a
        step that already ran and timed out (named by `case` and `step`): it is counted in that
        step, but is not a run of it, and is charged to the test and session budgets only, not
        to the scope open now. `replayed` marks a response replayed from a recording (a cassette,
        a mocked transport): counted, and priced as recorded cost, not as money spent; budgets
        still charge it, so a replayed suite checks the budgets its calls would meet live. A bad
        argument raises `TypeError` or `ValueError` naming it and
        records nothing; earlier records are kept.
        """
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        if (
            (step is not None and type(step) is not str)
            or (case is not None and type(case) is not str)
            or (model is not None and type(model) is not str)
            or (provider is not None and type(provider) is not str)
            or (provenance is not None and provenance not in _PROVENANCES)
            or (
                reported_cost_micro_usd is not None
                and (type(reported_cost_micro_usd) is not int or reported_cost_micro_usd < 0)
            )
            or (
                reported_total_tokens is not None
                and (type(reported_total_tokens) is not int or reported_total_tokens < 0)
            )
            or type(partial) is not bool
            or type(late) is not bool
            or type(replayed) is not bool
            or (response_id is not None and type(response_id) is not str)
            or (request_id is not None and type(request_id) is not str)
            or (
                wall_ms is not None
                and (type(wall_ms) not in (int, float) or not 0 <= wall_ms < _INF)
            )
        ):
            _reject_arguments(locals())
        if usage is not None:
            if type(usage) is not Usage and not isinstance(usage, Usage):
                raise TypeError(
                    f"record(): usage must be a pytest_tokencost.Usage, got "
                    f"{type(usage).__name__}; use observe() for a provider response"
                )
            prompt_bytes = artifact_bytes = None
            if prompt is not None or artifact is not None:
                prompt_bytes, artifact_bytes = _utf8_size(prompt), _utf8_size(artifact)
            kind = _REPORTED if provenance is None else Provenance(provenance)
        else:
            usage, prompt_bytes, artifact_bytes, kind = self._count(model, prompt, artifact)
            if provenance is not None:
                kind = Provenance(provenance)
        scope_scenario, scope_case, scope_step, scope_budget = self._scope.get()
        entry = (
            time.time(),
            scope_scenario,
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
            not late and (scope_step is None or (step is not None and step != scope_step)),
            reported_cost_micro_usd,
            partial,
            reported_total_tokens,
            response_id,
            request_id,
            late,
            replayed,
        )
        if response_id is None and not self._budgeted:
            self._entries.append(entry)  # atomic, also on free-threaded builds: no lock needed
            return
        with self._lock:  # the charge index must be this entry's, whatever other threads do
            if response_id is not None:
                if response_id in self._seen:
                    self.duplicates += 1
                    return
                self._seen.add(response_id)
            self._entries.append(entry)
            index = len(self._entries) - 1
        if self._budgeted:
            try:
                self._charge(index, entry, self.budget if late else scope_budget or self.budget)
            except TokenCostError as exc:
                if self.crossed is None:
                    self.crossed = exc
                raise

    def _charge(self, index: int, entry: tuple[Any, ...], scope: BudgetScope | None) -> None:
        """Charge a record to its budget scopes and the session ledger; raise on crossing.

        Token channels are charged as counted; the record is priced here only when a dollar
        budget covers it (otherwise at export, like any record).
        """
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        usage: Usage = entry[6]
        given, taken = usage.input, usage.output
        spent = {_TOKENS: given + taken, _INPUT: given, _OUTPUT: taken}
        unpriced = None
        if (scope is not None and scope.limits_usd) or (
            self._ledger is not None and self._ledger.limits_usd
        ):
            record = _Entry._make(entry)
            price = self._pricer_or_default().price(
                record.model, record.provider, usage, datetime.fromtimestamp(record.timestamp, UTC)
            )
            self._prices[index] = price
            if price.total_micro_usd is None:
                unpriced = UnpricedUnderBudget(
                    f"a USD budget covers model {record.model!r}, which has no known price: "
                    "add it to a --cost-prices file or pass --cost-default-rate-unknown"
                )
            else:
                spent[Channel.MICRO_USD] = price.total_micro_usd
        crossed: list[TokenBudgetExceeded] = []
        if self._ledger is not None:  # the session hears of the spend even if a scope raises
            try:
                for warning in self._ledger.charge(spent):
                    self.warnings.append(warning)
                    if self._warn is not None:
                        self._warn(warning)
            except TokenBudgetExceeded as exc:
                crossed.append(exc)
        if scope is not None:
            try:
                scope.observe(spent)
            except TokenBudgetExceeded as exc:
                crossed.insert(0, exc)
        if unpriced is not None:
            raise unpriced
        if crossed:
            raise crossed[0]

    @staticmethod
    def _count(
        model: str | None, prompt: str | None, artifact: str | None
    ) -> tuple[Usage, int | None, int | None, Provenance]:
        if prompt is None and artifact is None:
            raise TypeError("record() needs usage=Usage(...) or prompt=/artifact= texts")
        from .counting import counter_for  # here: a suite that only records usages never counts

        counter = counter_for(model)
        counts = [0, 0]
        sizes: list[int | None] = [None, None]
        for index, (label, text) in enumerate((("prompt", prompt), ("artifact", artifact))):
            if text is None:
                continue
            if not isinstance(text, str):
                raise TypeError(f"record(): {label} must be a str, got {type(text).__name__}")
            counts[index] = counter.count(text)
            sizes[index] = len(text.encode("utf-8"))
        usage = Usage.model_construct(
            input=counts[0], output=counts[1], cache_read=None, cache_write=None, reasoning=None
        )
        return usage, sizes[0], sizes[1], counter.provenance

    def observe(
        self,
        response: Any,
        *,
        step: str | None = None,
        case: str | None = None,
        provider: str | None = None,
    ) -> Usage:
        """Record the usage reported in a provider response (object, dict, JSON, or a list of
        stream chunks/events).

        The model and provider are taken from the response (`provider` overrides the latter,
        e.g. ``"openrouter"`` for a gateway, and helps read an untyped payload). A response
        already recorded (same provider id, e.g. by `--cost-capture`) is not counted again.
        Raises `UnreadablePayloadError` (naming the type and field) for anything it cannot read.
        Usage the response reports for another model (Anthropic's advisor tool) is recorded as
        a record of that model (see `record_observed`); the returned `Usage` is the answering
        model's.
        """
        from .identity import response_id_of
        from .providers import usage_from

        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        observed = usage_from(response, provider)
        self.record_observed(observed, step=step, case=case, response_id=response_id_of(response))
        return observed.usage

    def record_observed(
        self,
        observed: ObservedUsage,
        *,
        step: str | None = None,
        case: str | None = None,
        response_id: str | None = None,
        request_id: str | None = None,
        replayed: bool = False,
    ) -> None:
        """Record what a provider payload said (usage, model, provider, its own cost/total);
        `replayed` when the payload was replayed from a recording, not read from the network.

        Each of `observed.parts` (an advisor's sub-inference on another model) becomes a record
        of its own model, priced at that model's rates, with the response id suffixed
        ``#advisor-1``, ``#advisor-2``... so that it too counts once. `observed.notes`
        (figures the provider reported inconsistently, kept as reported) become warnings. A
        budget crossed by one record is raised after all of them are recorded.
        """
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        crossed: TokenCostError | None = None
        try:
            self.record(
                step=step,
                case=case,
                model=observed.model,
                provider=observed.provider,
                usage=observed.usage,
                provenance=Provenance.REPORTED,
                reported_cost_micro_usd=observed.reported_cost_micro_usd,
                reported_total_tokens=observed.reported_total,
                response_id=response_id,
                request_id=request_id,
                replayed=replayed,
            )
        except TokenCostError as exc:
            crossed = exc
        if observed.notes:
            where = f"response {response_id}" if response_id else "a response"
            for note in observed.notes:
                self.warnings.append(
                    f"inconsistent usage in {where} of {observed.model or 'an unnamed model'}: "
                    f"{note}"
                )
        for number, part in enumerate(observed.parts, 1):
            try:
                self.record(
                    step=step,
                    case=case,
                    model=part.model,
                    provider=observed.provider,
                    usage=part.usage,
                    provenance=Provenance.REPORTED,
                    response_id=None
                    if response_id is None
                    else f"{response_id}#{part.kind}-{number}",
                    request_id=request_id,
                    replayed=replayed,
                )
            except TokenCostError as exc:
                crossed = crossed or exc
        if crossed is not None:
            raise crossed

    # -- reading ----------------------------------------------------------------------------

    def _pricer_or_default(self) -> Pricer:
        if self._pricer is None:
            self._pricer = Pricer()
        return self._pricer

    def records(self) -> list[TokenRecord]:
        """All records so far, priced, in the order they were made.

        A record that cannot be built (a pricing bug, never bad input: `record()` checks its
        arguments) is left out alone and named in `build_errors`; the others are kept.
        """
        with self._lock:
            start = self._built_upto
            pending = self._entries[start:]
        built: list[TokenRecord] = []
        errors: list[str] = []
        for offset, entry in enumerate(pending):
            made = _Entry._make(entry)
            try:
                built.append(self._build(start + offset, made))
            except Exception as exc:
                errors.append(
                    f"record {start + offset} (model {made.model!r}, {made.usage.total:,} "
                    f"tokens): {type(exc).__name__}: {exc}"
                )
        with self._lock:
            if self._built_upto == start:
                self._built.extend(built)
                self.build_errors.extend(errors)
                self._built_upto = start + len(pending)
            return list(self._built)

    def scope_runs(self) -> list[ScopeRun]:
        """Closed case and step scopes (and records that were steps of their own)."""
        with self._lock:
            runs = list(self._runs)
            entries = list(self._entries)
        runs.extend(
            _Run("step", entry.scenario, entry.case, entry.step, entry.wall_ms)
            for entry in map(_Entry._make, entries)
            if entry.own_step
        )
        return [
            ScopeRun(
                kind=run.kind,
                test_id=self.test_id,
                scenario=run.scenario,
                case_id=run.case,
                step=run.step,
                wall_ms=run.wall_ms,
            )
            for run in runs
        ]

    def _build(self, seq: int, entry: _Entry) -> TokenRecord:
        timestamp = datetime.fromtimestamp(entry.timestamp, UTC)
        price = self._prices.get(seq) or self._pricer_or_default().price(
            entry.model, entry.provider, entry.usage, timestamp
        )
        return TokenRecord.model_validate(
            record_fields(
                seq=seq,
                usage=entry.usage,
                provenance=entry.provenance,
                timestamp=timestamp,
                price=price,
                run_id=self.run_id,
                test_id=self.test_id,
                attempt=self.attempt,
                scenario=entry.scenario,
                case_id=entry.case,
                step=entry.step,
                provider=entry.provider,
                model=entry.model,
                prompt_bytes=entry.prompt_bytes,
                artifact_bytes=entry.artifact_bytes,
                wall_ms=entry.wall_ms,
                reported_cost_micro_usd=entry.reported_cost,
                partial=entry.partial,
                reported_total_tokens=entry.reported_total,
                response_id=entry.response_id,
                request_id=entry.request_id,
                late=entry.late,
                replayed=entry.replayed,
            )
        )

    def summary(self) -> TokenSummary:
        """Totals and breakdowns of everything recorded so far, priced."""
        return TokenSummary.from_records(self.records(), self.scope_runs())

    def __len__(self) -> int:
        return len(self._entries)
