"""Trackers: where records are made, attributed to case and step scopes, and summarised.

`InMemoryTokenTracker` is a facade over four parts: the argument checks (`record_args.py`), the
scope stack (`scopes.py`), the budget charger (`budget/charger.py`) and the record builder
(`_build`). `record()` is on the hot path of every LLM call a suite makes, so it only checks its
arguments and appends a slotted `Entry` under a lock; records are built (and priced, which takes
about 0.1 ms per record with genai-prices) only when someone asks for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .budget import (
    BudgetCharger,
    BudgetScope,
    Channel,
    TokenBudgetExceeded,
    UnpricedUnderBudget,
    limits_from_kwargs,
)
from .entry import Entry
from .errors import TokenCostError
from .pricing import Price, Pricer
from .record_args import NAME_TYPES, check_arguments, utf8_size
from .record_builder import record_document, record_fields
from .records import Provenance, ScopeRun, TokenRecord, Usage
from .scopes import Frame, Kind, Run, ScopeStack

__all__ = ["InMemoryTokenTracker", "TokenBudgetExceeded", "TokenTracker", "UnpricedUnderBudget"]

if TYPE_CHECKING:
    from .budget.charger import Charged
    from .budget.ledger import BudgetLedger
    from .providers import ObservedUsage
    from .summary import TokenSummary


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


_REPORTED = Provenance.REPORTED


def _check_name(kind: str, value: object) -> None:
    __tracebackhide__ = True
    if not isinstance(value, str) or not value:
        raise TypeError(f"{kind} must be a non-empty string, got {value!r}")


def _parse_limits(
    where: str,
    max_tokens: float | None,
    max_input: float | None,
    max_output: float | None,
    max_usd: float | None,
) -> dict[Channel, int]:
    """A scope's `max_*` arguments as budget limits (raises ValueError naming `where`)."""
    __tracebackhide__ = True
    given = {
        key: value
        for key, value in (
            ("max_tokens", max_tokens),
            ("max_input", max_input),
            ("max_output", max_output),
            ("max_usd", max_usd),
        )
        if value is not None
    }
    return limits_from_kwargs(given, where) if given else {}


def _step_path(outer: str | None, name: str) -> str:
    """The path of step `name` inside step `outer` (``outer/name``); checks the name."""
    __tracebackhide__ = True
    _check_name("step name", name)
    if "/" in name:
        raise ValueError(
            f"step name {name!r} contains '/', which joins nested steps (outer/inner): "
            "nest two step() scopes instead"
        )
    return name if outer is None else f"{outer}/{name}"


def _build_error(seq: int, entry: Entry, exc: Exception) -> str:
    """Why record `seq` could not be built, naming it."""
    return (
        f"record {seq} (model {entry.model!r}, {entry.usage.total:,} tokens): "
        f"{type(exc).__name__}: {exc}"
    )


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
        # Made only when a budget applies: it refers back to the tracker (pricing, warnings),
        # and a tracker without that cycle is freed as soon as its test is done with it.
        self._charger: BudgetCharger | None = None
        # Only a tracker with a budget somewhere pays for charging on record().
        self._budgeted = ledger is not None or (budget is not None and budget.limited)
        self.budget_scopes: list[BudgetScope] = [budget] if budget and budget.pools else []
        self.warnings: list[str] = []  # budget warnings, capture problems
        #: Responses recorded again (by capture and observe(), or observe() twice): not counted.
        self.duplicates = 0
        self._seen: set[str] = set()
        self._prices: dict[int, Price] = {}  # records a dollar budget priced at once, by seq
        self._warn = warn
        if budget is not None or ledger is not None:
            charger = self._budget_charger()
            charger.root = budget
            if budget is not None:
                budget.on_warn = charger.scope_warned
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._built: list[TokenRecord] = []
        self._built_upto = 0
        #: Records that could not be built (and so are not in `records()`), named.
        self.build_errors: list[str] = []
        #: A budget warning that a warnings filter (`-W error`, `filterwarnings = error`) made
        #: an error inside a captured SDK call: its record is kept, and raising it there would
        #: make the SDK retry, so the test fails after its body instead.
        self.warning_error: Warning | None = None
        self._scopes = ScopeStack(f"tokencost_scope_{id(self)}")
        self._scope_var = self._scopes.var  # read directly by record(): no call on the hot path

    @property
    def failure(self) -> Exception | None:
        """What fails the test after its body although its code never saw it: the first budget
        crossed (`crossed`), else a budget warning `-W error` made an error inside a captured
        call (`warning_error`)."""
        return self.crossed or self.warning_error

    @property
    def crossed(self) -> TokenCostError | None:
        """The first budget this tracker's records crossed (or a USD budget they could not
        price): kept even when the code under test catches the exception, so the test fails."""
        return None if self._charger is None else self._charger.crossed

    @crossed.setter
    def crossed(self, error: TokenCostError | None) -> None:
        self._budget_charger().crossed = error

    def _budget_charger(self) -> BudgetCharger:
        """The budget charger, made on first need."""
        if self._charger is None:
            self._charger = BudgetCharger(
                ledger=self._ledger, price=self._price_now, warn=self._warned
            )
        return self._charger

    def _warned(self, message: str) -> None:
        """The charger's warning callback: kept on the tracker and passed on."""
        self.warnings.append(message)
        if self._warn is not None:
            self._warn(message)

    # -- scopes -----------------------------------------------------------------------------

    def _budget_for(self, name: str, parsed: dict[Channel, int]) -> BudgetScope | None:
        outer = self._scopes.current().budget or self.budget
        if not parsed:
            return outer
        if outer is None:
            charger = self._budget_charger()
            outer = self.budget = charger.root = BudgetScope(
                f"test {self.test_id}", on_warn=charger.scope_warned
            )
        scope = outer.child(name, parsed)
        self.budget_scopes.append(scope)
        self._budgeted = True
        return scope

    @contextmanager
    def _scope(
        self, kind: Kind, label: str, frame: Frame, parsed: dict[Channel, int]
    ) -> Iterator[None]:
        """The one scope behind `case()` and `step()`: its budget, attribution and timed run."""
        budget = self._budget_for(f"{kind} {label}", parsed)
        with self._scopes.enter(kind, frame._replace(budget=budget)):
            yield

    # Case and step take their place from the scope open when they are entered, not when
    # made: one made first, or used as a decorator, nests where it runs.

    @contextmanager
    def _case(
        self, case_id: str, scenario: str | None, parsed: dict[Channel, int]
    ) -> Iterator[None]:
        frame = Frame(scenario, case_id, self._scopes.current().step, None)
        with self._scope("case", case_id, frame, parsed):
            yield

    @contextmanager
    def _step(self, name: str, parsed: dict[Channel, int]) -> Iterator[None]:
        outer = self._scopes.current()
        path = _step_path(outer.step, name)
        with self._scope("step", path, Frame(outer.scenario, outer.case, path, None), parsed):
            yield

    def case(
        self,
        case_id: str,
        *,
        scenario: str | None = None,
        max_tokens: float | None = None,
        max_input: float | None = None,
        max_output: float | None = None,
        max_usd: float | None = None,
    ) -> AbstractContextManager[None]:
        """Attribute records made inside to calibration case `case_id`; time the case.

        `scenario` names the calibration scenario the case belongs to: scenarios may share
        case ids, and their records are told apart by it. `max_*` set a budget for the case
        (`max_usd` in dollars), checked at every record. A bad argument raises here, at the
        caller's line, before the scope is entered.
        """
        __tracebackhide__ = True
        _check_name("case id", case_id)
        if scenario is not None:
            _check_name("scenario", scenario)
        parsed = _parse_limits(f"case {case_id}", max_tokens, max_input, max_output, max_usd)
        return self._case(case_id, scenario, parsed)

    def step(
        self,
        name: str,
        *,
        max_tokens: float | None = None,
        max_input: float | None = None,
        max_output: float | None = None,
        max_usd: float | None = None,
    ) -> AbstractContextManager[None]:
        """Attribute records made inside to step `name`; time the step.

        `max_*` set a budget for the step (`max_usd` in dollars), checked at every record. A
        bad argument raises here, at the caller's line, before the scope is entered.
        """
        __tracebackhide__ = True
        path = _step_path(self._scopes.current().step, name)
        parsed = _parse_limits(f"step {path}", max_tokens, max_input, max_output, max_usd)
        return self._step(name, parsed)

    def current_scope(self) -> tuple[str | None, str | None]:
        """The (case, step) that a record made now would be attributed to."""
        scope = self._scopes.current()
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
        if not (
            # The common call (a model and a usage, nothing else) is checked here in one go.
            step is case is provider is response_id is request_id is None
            and reported_cost_micro_usd is reported_total_tokens is None
            and wall_ms is None is provenance
            and partial is late is replayed is False
            and type(model) in NAME_TYPES
        ):
            check_arguments(locals())
        usage, prompt_bytes, artifact_bytes, kind = self._measure(
            model, usage, prompt, artifact, provenance
        )
        scenario, scope_case, scope_step, budget = self._scope_var.get()
        entry = tuple.__new__(
            Entry,
            (
                time.time(),
                scenario,
                case or scope_case,
                step or scope_step,
                model,
                provider,
                usage,
                kind,
                prompt_bytes,
                artifact_bytes,
                wall_ms,
                not late and (scope_step is None or (step is not None and step != scope_step)),
                reported_cost_micro_usd,
                partial,
                reported_total_tokens,
                response_id,
                request_id,
                late,
                replayed,
            ),
        )
        lock = self._lock
        lock.acquire()  # acquire/release: a third of the cost of `with lock` on the hot path
        try:
            # The index is taken in the same locked step as the append, so threads recording
            # at once (free-threaded builds included) get unique, contiguous indices.
            if response_id is not None:
                if response_id in self._seen:
                    self.duplicates += 1  # the same response again (capture and observe())
                    return
                self._seen.add(response_id)
            self._entries.append(entry)
            index = len(self._entries) - 1
        finally:
            lock.release()
        charger = self._charger
        if charger is not None and self._budgeted:
            charger.charge_made(usage, late, budget, entry, index)

    def _price_now(self, charged: Charged, index: int) -> int | None:
        """The charger's price callback (a dollar budget covers entry `index`): price it now."""
        assert isinstance(charged, Entry)
        self._prices[index] = price = self._pricer_or_default().price(
            charged.model,
            charged.provider,
            charged.usage,
            datetime.fromtimestamp(charged.timestamp, UTC),
        )
        return price.total_micro_usd

    def _measure(
        self,
        model: str | None,
        usage: Usage | None,
        prompt: str | None,
        artifact: str | None,
        provenance: Provenance | None,
    ) -> tuple[Usage, int | None, int | None, Provenance]:
        """The record's usage, text sizes and provenance: as given, or counted from its texts."""
        if usage is None:
            usage, prompt_bytes, artifact_bytes, kind = self._count(model, prompt, artifact)
            if provenance is not None:
                kind = Provenance(provenance)
            return usage, prompt_bytes, artifact_bytes, kind
        if type(usage) is not Usage and not isinstance(usage, Usage):
            raise TypeError(
                f"record(): usage must be a pytest_tokencost.Usage, got "
                f"{type(usage).__name__}; use observe() for a provider response"
            )
        kind = _REPORTED if provenance is None else Provenance(provenance)
        if prompt is None and artifact is None:
            return usage, None, None, kind
        return usage, utf8_size(prompt), utf8_size(artifact), kind

    @staticmethod
    def _count(
        model: str | None, prompt: str | None, artifact: str | None
    ) -> tuple[Usage, int | None, int | None, Provenance]:
        from .counting import count_usage  # here: a suite that only records usages never counts

        return count_usage(model, prompt, artifact)

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
        for seq, entry in enumerate(pending, start):
            try:
                built.append(self._build(seq, entry))
            except Exception as exc:
                errors.append(_build_error(seq, entry, exc))
        with self._lock:
            if self._built_upto == start:
                self._built.extend(built)
                self.build_errors.extend(errors)
                self._built_upto = start + len(pending)
            return list(self._built)

    def documents(self, *, interrupted: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
        """Every record so far as its JSON document (what ``TokenRecord.model_dump(mode="json")``
        writes), priced, without building a model; and the errors of records that could not be
        built (left out alone, as in `records`). `interrupted` flags them all.

        A test's teardown exports its records this way: no pydantic on the way to the report.
        """
        with self._lock:
            entries = list(self._entries)
        documents: list[dict[str, Any]] = []
        errors: list[str] = []
        for seq, entry in enumerate(entries):
            try:
                document = record_document(self._fields(seq, entry))
            except Exception as exc:
                errors.append(_build_error(seq, entry, exc))
                continue
            if interrupted:
                document["interrupted"] = True
            documents.append(document)
        return documents, errors

    def _runs(self) -> list[Run]:
        runs = self._scopes.runs()
        with self._lock:
            entries = list(self._entries)
        runs.extend(
            Run("step", entry.scenario, entry.case, entry.step, entry.wall_ms)
            for entry in entries
            if entry.own_step
        )
        return runs

    def scope_runs(self) -> list[ScopeRun]:
        """Closed case and step scopes (and records that were steps of their own)."""
        return [ScopeRun.model_validate(document) for document in self.run_documents()]

    def run_documents(self) -> list[dict[str, Any]]:
        """`scope_runs` as JSON documents (what ``ScopeRun.model_dump(mode="json")`` writes)."""
        return [
            {
                "kind": run.kind,
                "test_id": self.test_id,
                "scenario": run.scenario,
                "case_id": run.case,
                "step": run.step,
                "wall_ms": None if run.wall_ms is None else float(run.wall_ms),
            }
            for run in self._runs()
        ]

    def _fields(self, seq: int, entry: Entry) -> dict[str, Any]:
        """The keyword arguments of record `seq`, priced (`record_builder.record_fields`)."""
        timestamp = datetime.fromtimestamp(entry.timestamp, UTC)
        price = self._prices.get(seq) or self._pricer_or_default().price(
            entry.model, entry.provider, entry.usage, timestamp
        )
        return record_fields(
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
            wall_ms=None if entry.wall_ms is None else float(entry.wall_ms),
            reported_cost_micro_usd=entry.reported_cost,
            partial=entry.partial,
            reported_total_tokens=entry.reported_total,
            response_id=entry.response_id,
            request_id=entry.request_id,
            late=entry.late,
            replayed=entry.replayed,
        )

    def _build(self, seq: int, entry: Entry) -> TokenRecord:
        return TokenRecord.model_validate(self._fields(seq, entry))

    def summary(self) -> TokenSummary:
        """Totals and breakdowns of everything recorded so far, priced."""
        from .summary import TokenSummary

        return TokenSummary.from_records(self.records(), self.scope_runs())

    def __len__(self) -> int:
        return len(self._entries)
