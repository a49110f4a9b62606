"""The calibration loop: every case through every step, scored against ground truth."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pytest_tokencost.budget import TokenBudgetExceeded
from pytest_tokencost.records import Provenance
from pytest_tokencost.redact import redact
from pytest_tokencost.tracker import InMemoryTokenTracker
from pytest_tokencost.transcripts import TranscriptWatch

from .adapters import Adapter, AdapterContext
from .dispatch import Dispatcher, DispatchError, DispatchRequest
from .recording import StepRatio, StepRecorder
from .scenario import Case, Scenario, parse_fields

__all__ = ["CaseResult", "FieldMismatch", "RunConfig", "StepResult", "run_case", "score_artifact"]

#: Error text as stored and shown: redacted whoever built it (an adapter from a plugin too).
ErrorText = Annotated[str, AfterValidator(redact)]


class FieldMismatch(BaseModel):
    """A scored field whose value differs from the ground truth."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    expected: str
    got: str | None


class StepResult(BaseModel):
    """One step of one case: its score against ground truth and what it cost in tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str
    scored_fields: int = 0
    matched_fields: int = 0
    mismatches: list[FieldMismatch] = Field(default_factory=list)
    error: ErrorText | None = None
    model: str | None = Field(default=None, description="The model, when exactly one answered.")
    models: list[str] = Field(default_factory=list, description="Every model that answered.")
    model_tokens: dict[str, tuple[int, int]] = Field(
        default_factory=dict, description="(prompt, artifact) tokens of each model."
    )
    provenance: Provenance | None = Field(
        default=None, description="Where the counts came from (the weakest, for a mix)."
    )
    response_ids: list[str] = Field(
        default_factory=list, description="Identities of the transcript responses counted here."
    )
    prompt_tokens: int = 0
    artifact_tokens: int = 0
    prompt_bytes: int = 0
    artifact_bytes: int = 0
    wall_ms: float = 0.0

    @property
    def score(self) -> float:
        """Share of scored fields that match (0 on error, 1 when nothing is scored)."""
        if self.error is not None:
            return 0.0
        return self.matched_fields / self.scored_fields if self.scored_fields else 1.0


class CaseResult(BaseModel):
    """One case: its steps, its token totals and wall clock, and whether it passed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str
    steps: list[StepResult]
    prompt_tokens: int
    artifact_tokens: int
    step_count: int
    wall_ms: float
    passed: bool
    error: ErrorText | None = None
    late_response_ids: list[str] = Field(
        default_factory=list,
        description="Transcript responses of earlier, timed-out steps found (and counted in "
        "their own steps) while this case ran.",
    )
    warnings: list[str] = Field(default_factory=list, description="Late answers found.")


def _normalise(value: str) -> str:
    return " ".join(value.split()).casefold()


def score_artifact(artifact: str, truth: str, fields: list[str]) -> tuple[int, list[FieldMismatch]]:
    """How many scored header fields of `artifact` match `truth` (case and space insensitive)."""
    got, expected = parse_fields(artifact), parse_fields(truth)
    mismatches = [
        FieldMismatch(field=name, expected=expected[name], got=got.get(name))
        for name in fields
        if got.get(name) is None or _normalise(got[name]) != _normalise(expected[name])
    ]
    return len(fields) - len(mismatches), mismatches


@dataclass
class RunConfig:
    """A calibration run: scenario, adapter and its options, and estimate ratios if any."""

    scenario: Scenario
    adapter: Adapter
    context: AdapterContext
    ratios: dict[str, StepRatio] = field(default_factory=dict)
    transcripts: TranscriptWatch | None = None
    _dispatcher: Dispatcher | None = None

    def dispatcher(self) -> Dispatcher:
        """The adapter's dispatcher, made once per run."""
        if self._dispatcher is None:
            self._dispatcher = self.adapter.dispatcher(self.context)
        return self._dispatcher


def run_case(config: RunConfig, case: Case, tracker: InMemoryTokenTracker) -> CaseResult:
    """Run `case` through every step; a failed dispatch ends the case (later steps need it)."""
    scenario = config.scenario
    started = time.perf_counter()
    try:
        inner = config.dispatcher()
    except DispatchError as exc:  # the adapter cannot run at all (no key, no folder)
        return CaseResult(
            case_id=case.id,
            steps=[],
            prompt_tokens=0,
            artifact_tokens=0,
            step_count=0,
            wall_ms=0.0,
            passed=False,
            error=str(exc),
        )
    recorder = StepRecorder(
        inner,
        tracker,
        model=config.context.model,
        ratios=config.ratios,
        transcripts=config.transcripts,
    )
    artifacts: dict[str, str] = {}
    steps: list[StepResult] = []
    late: list[str] = []
    warnings: list[str] = []
    error = None
    with tracker.case(case.id, scenario=scenario.id, **case.budget):
        for step in scenario.steps:
            request = DispatchRequest(
                scenario_id=scenario.id,
                case_id=case.id,
                step=step.name,
                prompt=scenario.prompt(case, step, artifacts),
                model=step.model,
            )
            try:
                with tracker.step(step.name, **step.budget):
                    outcome = recorder.dispatch(request)
                    if outcome.budget_error is not None:
                        raise outcome.budget_error
            except TokenBudgetExceeded as exc:
                outcome.error = outcome.error or str(exc)
            late += outcome.late_ids
            warnings += outcome.warnings
            artifact = outcome.result.artifact if outcome.result is not None else None
            matched, mismatches = 0, list[FieldMismatch]()
            if outcome.error is None and artifact is not None:
                artifacts[step.name] = artifact
                matched, mismatches = score_artifact(
                    artifact, case.truth[step.name], step.scored_fields
                )
            steps.append(
                StepResult(
                    step=step.name,
                    scored_fields=len(step.scored_fields),
                    matched_fields=matched,
                    mismatches=mismatches,
                    error=outcome.error,
                    model=outcome.model,
                    models=outcome.models,
                    model_tokens=outcome.model_tokens,
                    provenance=outcome.provenance,
                    response_ids=outcome.response_ids,
                    prompt_tokens=outcome.usage.input,
                    artifact_tokens=outcome.usage.output,
                    prompt_bytes=len(request.prompt.encode("utf-8")),
                    artifact_bytes=len(artifact.encode("utf-8")) if artifact is not None else 0,
                    wall_ms=outcome.wall_ms,  # a timed-out step keeps its wall clock too
                )
            )
            if outcome.error is not None:
                error = outcome.error
                break  # later steps need this step's artifact
    return CaseResult(
        case_id=case.id,
        steps=steps,
        prompt_tokens=sum(s.prompt_tokens for s in steps),
        artifact_tokens=sum(s.artifact_tokens for s in steps),
        step_count=len(steps),
        wall_ms=(time.perf_counter() - started) * 1000.0,
        passed=error is None and all(not s.mismatches for s in steps),
        error=error,
        late_response_ids=late,
        warnings=warnings,
    )
