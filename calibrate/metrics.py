"""Calibration metrics: per-step accuracy, case pass rate, and M18 `total_prompt_tokens`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pytest_tokencost.summary import TokenSummary

from .runner import CaseResult

__all__ = ["FALLBACK_TOKENS_PER_STEP", "CalibrationMetrics", "StepAccuracy", "compute_metrics"]

#: The old contract's figure, kept only for runs where nothing was measured.
FALLBACK_TOKENS_PER_STEP = 1000


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
    """The run's metrics. `m18_source` says whether M18 was measured or is the fallback."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cases: int
    passed: int
    pass_rate: float
    steps: list[StepAccuracy]
    m18_total_prompt_tokens: int
    m18_source: Literal["measured", "fallback: steps x 1000"]


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
    if tokens.totals.records:
        m18, source = tokens.totals.usage.input, "measured"
    else:
        m18 = FALLBACK_TOKENS_PER_STEP * sum(result.step_count for result in results)
        source = "fallback: steps x 1000"
    return CalibrationMetrics(
        cases=len(results),
        passed=passed,
        pass_rate=passed / len(results) if results else 0.0,
        steps=accuracy,
        m18_total_prompt_tokens=m18,
        m18_source=source,  # type: ignore[arg-type]
    )
