"""What one dispatched step records on the tracker: one record per provider request.

The policy, step by step:

* With agent transcripts (``--cost-transcripts``), every response the agent logged inside the
  step's dispatch window is a record of its own (provenance `reported`, priced on its own: a
  long-context tier depends on each request's size), whether the step succeeded or failed.
* Otherwise the adapter's reported usage (`reported`), else the prompt and artifact counted
  with the model's tokenizer (`counted`) or estimated at bytes/4 (`estimated`), scaled by the
  step's ratio from ``--cost-calibration`` (`calibrated`, priced as the wet run's model when the
  ratio file knows it).
* A failed step whose prompt was delivered counts that prompt, estimated, when no transcripts
  are watched; with transcripts, the agent's logged usage is the count wherever it lands (in
  the step's window, as a late answer, or unattributed), so no estimate is added beside it. A
  step that timed out is registered with the transcript watch, so that an answer arriving after
  its deadline is flagged late and counted in its own step.

A budget that a record crosses is raised only after every record of the step is made: tokens
already spent are never dropped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from pytest_tokencost.budget import TokenBudgetExceeded
from pytest_tokencost.counting import count_usage
from pytest_tokencost.records import Provenance, Usage
from pytest_tokencost.tracker import InMemoryTokenTracker
from pytest_tokencost.transcripts import (
    TranscriptResponse,
    TranscriptWatch,
    provider_of,
    response_ids,
    response_key,
)

from .dispatch import Dispatcher, DispatchError, DispatchRequest, DispatchResult

__all__ = ["StepOutcome", "StepRatio", "StepRecorder", "TokenTrackingDispatcher", "provider_of"]


class StepRatio(NamedTuple):
    """A step's wet / stub factors from a ratio file, and the wet run's model when known."""

    prompt: float
    artifact: float
    model: str | None = None


@dataclass
class StepOutcome:
    """A dispatched step: its artifact (or error) and what was recorded for it."""

    result: DispatchResult | None
    error: str | None
    wall_ms: float
    usage: Usage = field(default_factory=Usage)
    provenance: Provenance | None = None
    models: list[str] = field(default_factory=list)
    model_tokens: dict[str, tuple[int, int]] = field(default_factory=dict)
    response_ids: list[str] = field(default_factory=list)
    late_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    budget_error: TokenBudgetExceeded | None = None

    @property
    def model(self) -> str | None:
        """The step's model when exactly one answered it."""
        return self.models[0] if len(self.models) == 1 else None

    def add(self, model: str | None, usage: Usage) -> None:
        """Count `usage` in the step's totals and in its model's share."""
        self.usage = self.usage + usage
        if model is None:
            return
        if model not in self.models:
            self.models.append(model)
        prompt, artifact = self.model_tokens.get(model, (0, 0))
        self.model_tokens[model] = (prompt + usage.input, artifact + usage.output)


def _identity(response: TranscriptResponse) -> dict[str, str | None]:
    response_id, request_id = response_ids(response)
    return {"response_id": response_id, "request_id": request_id}


_STRENGTH = [Provenance.REPORTED, Provenance.COUNTED, Provenance.CALIBRATED, Provenance.ESTIMATED]


def weakest(kinds: list[Provenance]) -> Provenance | None:
    """The least exact of several provenances (a mix is only as good as its weakest part)."""
    return max(kinds, key=_STRENGTH.index) if kinds else None


class StepRecorder:
    """Dispatches steps through `inner` and records each on `tracker` (see the module doc)."""

    def __init__(
        self,
        inner: Dispatcher,
        tracker: InMemoryTokenTracker,
        *,
        model: str | None = None,
        ratios: Mapping[str, StepRatio] | None = None,
        transcripts: TranscriptWatch | None = None,
    ) -> None:
        self.inner = inner
        self.tracker = tracker
        self.model = model
        self.ratios = ratios or {}
        self.transcripts = transcripts
        self._kinds: list[Provenance] = []
        self._budget_error: TokenBudgetExceeded | None = None

    def dispatch(self, request: DispatchRequest) -> StepOutcome:
        """Dispatch and record; a `DispatchError` becomes the outcome's `error`."""
        self._kinds, self._budget_error = [], None
        window_start = datetime.now(UTC)
        started = time.perf_counter()
        try:
            result: DispatchResult | None = self.inner.dispatch(request)
            error = None
        except DispatchError as exc:
            result, error = None, str(exc)
        wall_ms = (time.perf_counter() - started) * 1000.0
        window_end = datetime.now(UTC)
        outcome = StepOutcome(result=result, error=error, wall_ms=wall_ms)
        logged: list[TranscriptResponse] = []
        if self.transcripts is not None:
            logged = self.transcripts.take(window_start, window_end)
            self._note_problems()
            self._record_late(outcome, request.scenario_id)
        if logged:
            self._record_responses(outcome, request, logged)
        elif result is not None:
            self._record_answer(outcome, request, result)
        elif self.transcripts is None and self._delivered(request):
            # Without transcripts nothing else will ever count the delivered prompt. With
            # them, whatever the agent spent on it is logged and counted where it lands (late
            # answer or unattributed): an estimate here would count the prompt twice.
            self._record_prompt(outcome, request)
        if result is None and self.transcripts is not None:
            marker = self._waiting_marker(request)
            if marker is not None:  # timed out: the agent may still answer
                self.transcripts.expire(
                    request.case_id, request.step, window_end, marker, request.scenario_id
                )
        outcome.provenance = weakest(self._kinds)
        outcome.budget_error = self._budget_error
        return outcome

    # -- records ------------------------------------------------------------------------------

    def _record(self, usage: Usage, provenance: Provenance, **fields: object) -> None:
        try:
            self.tracker.record(usage=usage, provenance=provenance, **fields)  # type: ignore[arg-type]
        except TokenBudgetExceeded as exc:  # the record is kept; raise once the step is recorded
            self._budget_error = self._budget_error or exc
        self._kinds.append(provenance)

    def _record_responses(
        self, outcome: StepOutcome, request: DispatchRequest, logged: list[TranscriptResponse]
    ) -> None:
        artifact = outcome.result.artifact if outcome.result is not None else None
        for index, response in enumerate(logged):
            first = index == 0  # the texts' sizes and the round trip belong to the step once
            self._record(
                response.usage,
                Provenance.REPORTED,
                model=response.model,
                provider=provider_of(response),
                prompt=request.prompt if first else None,
                artifact=artifact if first else None,
                wall_ms=outcome.wall_ms if first else None,
                reported_cost_micro_usd=response.reported_cost_micro_usd,
                **_identity(response),
            )
            outcome.add(response.model, response.usage)
            outcome.response_ids.append(response_key(response))

    def _record_answer(
        self, outcome: StepOutcome, request: DispatchRequest, result: DispatchResult
    ) -> None:
        model = result.model or request.model or self.model
        if result.usage is not None:
            usage, provenance, priced_as = result.usage, Provenance.REPORTED, model
        else:
            usage, provenance, priced_as = self._count(request, model, result.artifact)
        self._record(
            usage,
            provenance,
            model=priced_as,
            provider=result.provider,
            prompt=request.prompt,
            artifact=result.artifact,
            wall_ms=outcome.wall_ms,
        )
        outcome.add(priced_as, usage)

    def _record_prompt(self, outcome: StepOutcome, request: DispatchRequest) -> None:
        """A failed step still delivered its prompt: count it (no artifact came back)."""
        model = request.model or self.model
        usage, provenance, priced_as = self._count(request, model, None)
        self._record(
            usage,
            provenance,
            model=priced_as,
            prompt=request.prompt,
            wall_ms=outcome.wall_ms,
        )
        outcome.add(priced_as, usage)

    def _count(
        self, request: DispatchRequest, model: str | None, artifact: str | None
    ) -> tuple[Usage, Provenance, str | None]:
        usage, _, _, provenance = count_usage(model, request.prompt, artifact, caller="dispatch")
        ratio = self.ratios.get(request.step)
        if ratio is None or provenance is not Provenance.ESTIMATED:
            return usage, provenance, model
        scaled = Usage(
            input=round(usage.input * ratio.prompt), output=round(usage.output * ratio.artifact)
        )
        # Calibrated against a wet run: price it as that run's model when the file names one.
        return scaled, Provenance.CALIBRATED, model or ratio.model

    def _record_late(self, outcome: StepOutcome, scenario: str) -> None:
        assert self.transcripts is not None
        for late in self.transcripts.late_answers(scenario):
            if not late.responses:
                continue
            usage = Usage()
            for response in late.responses:
                self._record(
                    response.usage,
                    Provenance.REPORTED,
                    case=late.case,
                    step=late.step,
                    model=response.model,
                    provider=provider_of(response),
                    reported_cost_micro_usd=response.reported_cost_micro_usd,
                    late=True,
                    **_identity(response),
                )
                self._kinds.pop()  # not this step's usage
                usage = usage + response.usage
                outcome.late_ids.append(response_key(response))
            warning = (
                f"late answer: case {late.case!r} step {late.step!r} was answered after its "
                f"deadline ({late.deadline:%H:%M:%S} UTC); its {len(late.responses)} logged "
                f"response(s) ({usage.input:,} input, {usage.output:,} output tokens) are "
                "counted in that step, not in the window of case "
                f"{self.tracker.current_scope()[0]!r} they fell in"
            )
            self.tracker.warnings.append(warning)
            outcome.warnings.append(warning)

    # -- the dispatch's situation -------------------------------------------------------------

    def _note_problems(self) -> None:
        assert self.transcripts is not None
        for problem in self.transcripts.problems:  # unreadable files or lines: say so
            if problem not in self.tracker.warnings:
                self.tracker.warnings.append(problem)

    def _paths(self, request: DispatchRequest) -> dict[str, Path] | None:
        paths = getattr(self.inner, "paths", None)
        if not callable(paths):
            return None
        try:
            found = paths(request)
        except DispatchError:  # an id that would leave the folder: nothing was written
            return None
        return found if isinstance(found, dict) else None

    def _delivered(self, request: DispatchRequest) -> bool:
        """Whether a failed dispatch got its prompt to the other side."""
        paths = self._paths(request)
        if paths is None:  # an HTTP endpoint that failed: the provider bills no answer
            return False
        prompt = paths.get("prompt")
        return prompt is not None and prompt.is_file()

    def _waiting_marker(self, request: DispatchRequest) -> Path | None:
        """The done marker of a file dispatch that timed out (it may still come)."""
        paths = self._paths(request)
        if paths is None or "done" not in paths or not self._delivered(request):
            return None
        done = paths["done"]
        return None if done.exists() else done


class TokenTrackingDispatcher:
    """A `Dispatcher` that records every dispatch of `inner` on `tracker` (see `StepRecorder`
    for what is recorded), for code that drives dispatchers itself.

    Returns the inner dispatcher's result; raises its `DispatchError` once the step is recorded
    (a failed step's logged usage and delivered prompt still count), then a budget the records
    crossed.
    """

    def __init__(
        self,
        inner: Dispatcher,
        tracker: InMemoryTokenTracker,
        *,
        model: str | None = None,
        ratios: Mapping[str, StepRatio] | None = None,
        transcripts: TranscriptWatch | None = None,
    ) -> None:
        self.recorder = StepRecorder(
            inner, tracker, model=model, ratios=ratios, transcripts=transcripts
        )

    def dispatch(self, request: DispatchRequest) -> DispatchResult:
        """Dispatch through the inner dispatcher and record the step."""
        outcome = self.recorder.dispatch(request)
        if outcome.result is None:
            raise DispatchError(outcome.error or f"{request.case_id}/{request.step}: no answer")
        if outcome.budget_error is not None:
            raise outcome.budget_error
        return outcome.result
