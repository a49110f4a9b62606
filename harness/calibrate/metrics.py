"""Calibration metrics: per-step accuracy, case pass rate, and M18 `total_prompt_tokens`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from pytest_tokencost.records import Provenance
from pytest_tokencost.summary import TokenSummary

from .runner import CaseResult

__all__ = [
    "FALLBACK_SOURCE",
    "FALLBACK_TOKENS_PER_STEP",
    "CalibrationMetrics",
    "StepAccuracy",
    "compute_metrics",
    "provenance_label",
]

#: The old contract's figure, kept only for runs where nothing was measured.
FALLBACK_TOKENS_PER_STEP = 1000
FALLBACK_SOURCE = "fallback: steps x 1000"


def provenance_label(tokens: Mapping[Provenance, int], *, counts: bool = True) -> str | None:
    """What a total was measured as: ``reported``, ``estimated``, or a mix (``mixed: 36,400
    reported, 1,100 estimated``; without `counts`, ``mixed: reported + estimated``). None
    when it holds no tokens."""
    present = sorted(
        ((kind, count) for kind, count in tokens.items() if count > 0), key=lambda kc: -kc[1]
    )
    if not present:
        return None
    if len(present) == 1:
        return present[0][0].value
    if not counts:
        return "mixed: " + " + ".join(kind.value for kind, _ in present)
    return "mixed: " + ", ".join(f"{count:,} {kind.value}" for kind, count in present)


class StepAccuracy(BaseModel):
    """How well one step did across the cases that reached it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str
    runs: int
    errors: int
    accuracy: float
    fields_matched: int
    fields_scored: int


class CalibrationMetrics(BaseModel):
    """The run's metrics. `m18_source` says what M18's tokens are: reported, counted, estimated,
    calibrated or a mix of them (from the records), or the old fallback figure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cases: int
    passed: int
    pass_rate: float
    steps: list[StepAccuracy]
    m18_total_prompt_tokens: int
    m18_source: str = Field(
        description='"reported", "counted", "estimated", "calibrated", "mixed: ..." or '
        '"fallback: steps x 1000"'
    )


def compute_metrics(results: Sequence[CaseResult], tokens: TokenSummary) -> CalibrationMetrics:
    """Metrics of a run from its case results and the tracker's measured token summary."""
    by_step: dict[str, list[tuple[int, int, bool]]] = {}
    for result in results:
        for step in result.steps:
            by_step.setdefault(step.step, []).append(
                (step.matched_fields, step.scored_fields, step.error is not None)
            )
    accuracy = []
    for name, runs in by_step.items():
        matched = sum(m for m, _, _ in runs)
        scored = sum(s for _, s, _ in runs)
        accuracy.append(
            StepAccuracy(
                step=name,
                runs=len(runs),
                errors=sum(e for _, _, e in runs),
                accuracy=matched / scored if scored else 1.0,
                fields_matched=matched,
                fields_scored=scored,
            )
        )
    passed = sum(result.passed for result in results)
    measured = provenance_label(tokens.totals.tokens_by_provenance, counts=False)
    if tokens.totals.records:
        m18, source = tokens.totals.usage.input, measured or "no tokens in the records"
    else:
        m18 = FALLBACK_TOKENS_PER_STEP * sum(result.step_count for result in results)
        source = FALLBACK_SOURCE
    return CalibrationMetrics(
        cases=len(results),
        passed=passed,
        pass_rate=passed / len(results) if results else 0.0,
        steps=accuracy,
        m18_total_prompt_tokens=m18,
        m18_source=source,
    )
