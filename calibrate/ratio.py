"""Stub-vs-wet ratios: how far the stub's size estimates are from what a real run measured.

Samples are the (case, step) pairs that both runs completed. Per step and wet model (and per
step over all models, model "*") the document gives the ratio of sums (wet / stub) for prompt
and artifact tokens, the per-sample ratios' mean, standard deviation, minimum and maximum, and
the sample count. A later stub run given the JSON file (`--cost-calibration`) multiplies its
estimates by the per-step "*" ratios and labels them `calibrated`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pytest_tokencost.errors import ReportFileError, TokenCostError
from pytest_tokencost.outdir import atomic_write_text
from pytest_tokencost.report import read_json_model

from .report import CalibrationReport

__all__ = [
    "RatioDocument",
    "RatioRow",
    "RatioStat",
    "compute_ratios",
    "load_ratios",
    "render_markdown",
]

ALL_MODELS = "*"


class RatioError(TokenCostError):
    """Two reports that cannot be compared, or an unreadable ratio file."""


class RatioStat(BaseModel):
    """Wet / stub for one kind of token: ratio of sums, and the spread of per-sample ratios."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ratio: float | None
    mean: float | None
    stdev: float | None
    min: float | None
    max: float | None


class RatioRow(BaseModel):
    """One step (and wet model) of the comparison."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str
    model: str
    samples: int
    stub_prompt_tokens: int
    wet_prompt_tokens: int
    stub_artifact_tokens: int
    wet_artifact_tokens: int
    prompt: RatioStat
    artifact: RatioStat


class RatioDocument(BaseModel):
    """The JSON file `tokencost ratio` writes, and `--cost-calibration` reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    scenario: str
    stub_run: str
    wet_run: str
    stub_adapter: str
    wet_adapter: str
    rows: list[RatioRow]


def _stat(pairs: list[tuple[int, int]]) -> RatioStat:
    stub_total = sum(stub for stub, _ in pairs)
    wet_total = sum(wet for _, wet in pairs)
    samples = [wet / stub for stub, wet in pairs if stub > 0]
    if not samples:
        return RatioStat(ratio=None, mean=None, stdev=None, min=None, max=None)
    return RatioStat(
        ratio=wet_total / stub_total if stub_total else None,
        mean=statistics.fmean(samples),
        stdev=statistics.stdev(samples) if len(samples) > 1 else 0.0,
        min=min(samples),
        max=max(samples),
    )


_Sample = tuple[str, str, int, int, int, int]  # step, wet model, stub/wet prompt, stub/wet artifact


def _row(step: str, model: str, samples: Iterable[_Sample]) -> RatioRow:
    chosen = list(samples)
    return RatioRow(
        step=step,
        model=model,
        samples=len(chosen),
        stub_prompt_tokens=sum(s[2] for s in chosen),
        wet_prompt_tokens=sum(s[3] for s in chosen),
        stub_artifact_tokens=sum(s[4] for s in chosen),
        wet_artifact_tokens=sum(s[5] for s in chosen),
        prompt=_stat([(s[2], s[3]) for s in chosen]),
        artifact=_stat([(s[4], s[5]) for s in chosen]),
    )


def compute_ratios(stub: CalibrationReport, wet: CalibrationReport) -> RatioDocument:
    """Compare a stub run with a wet run of the same scenario, step by step."""
    if stub.scenario != wet.scenario:
        raise RatioError(
            f"the reports are of different scenarios ({stub.scenario!r} and {wet.scenario!r})"
        )
    wet_cases = {case.case_id: case for case in wet.cases}
    samples: list[_Sample] = []
    for stub_case in stub.cases:
        wet_case = wet_cases.get(stub_case.case_id)
        if wet_case is None:
            continue
        wet_steps = {step.step: step for step in wet_case.steps if step.error is None}
        for stub_step in stub_case.steps:
            wet_step = wet_steps.get(stub_step.step)
            if stub_step.error is None and wet_step is not None:
                samples.append(
                    (
                        stub_step.step,
                        wet_step.model or "(unknown model)",
                        stub_step.prompt_tokens,
                        wet_step.prompt_tokens,
                        stub_step.artifact_tokens,
                        wet_step.artifact_tokens,
                    )
                )
    if not samples:
        raise RatioError("the two reports have no (case, step) completed in both runs")
    steps = list(dict.fromkeys(sample[0] for sample in samples))
    rows = []
    for step in steps:
        of_step = [s for s in samples if s[0] == step]
        rows.append(_row(step, ALL_MODELS, of_step))
        for model in sorted({s[1] for s in of_step}):
            rows.append(_row(step, model, (s for s in of_step if s[1] == model)))
    return RatioDocument(
        scenario=stub.scenario,
        stub_run=stub.run_id,
        wet_run=wet.run_id,
        stub_adapter=stub.adapter,
        wet_adapter=wet.adapter,
        rows=rows,
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def render_markdown(document: RatioDocument) -> str:
    """The ratio document for people."""
    lines = [
        f"# Token ratios: {document.scenario}",
        "",
        f"Stub run `{document.stub_run}` ({document.stub_adapter}, estimated tokens) against wet "
        f"run `{document.wet_run}` ({document.wet_adapter}). A ratio is wet / stub: above 1 the "
        'stub underestimates. "ratio" divides the sums; mean, sd, min and max describe the '
        "per-sample ratios. Model `*` is every model of the step together; a later stub run "
        "given the JSON file (`--cost-calibration`) scales its estimates by these rows.",
        "",
        "| step | model | samples | prompt ratio | prompt mean ± sd | prompt min..max "
        "| artifact ratio | artifact mean ± sd | artifact min..max |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in document.rows:
        p, a = row.prompt, row.artifact
        lines.append(
            f"| {row.step} | {row.model} | {row.samples} | {_fmt(p.ratio)} | "
            f"{_fmt(p.mean)} ± {_fmt(p.stdev)} | {_fmt(p.min)}..{_fmt(p.max)} | {_fmt(a.ratio)} | "
            f"{_fmt(a.mean)} ± {_fmt(a.stdev)} | {_fmt(a.min)}..{_fmt(a.max)} |"
        )
    return "\n".join(lines) + "\n"


def write_ratios(document: RatioDocument, markdown: Path, json_path: Path) -> None:
    """Write the Markdown document and the JSON ratio file, each atomically."""
    atomic_write_text(markdown, render_markdown(document))
    atomic_write_text(json_path, document.model_dump_json(indent=2) + "\n")


def load_ratios(path: Path) -> dict[str, tuple[float, float]]:
    """Per-step (prompt, artifact) scale factors from a ratio JSON file (the "*" rows)."""
    try:
        document = read_json_model(path, RatioDocument, "ratio file")
    except ReportFileError as exc:
        raise RatioError(f"{path} is not a ratio file written by `tokencost ratio`: {exc}") from exc
    factors = {}
    for row in document.rows:
        if row.model == ALL_MODELS:
            factors[row.step] = (row.prompt.ratio or 1.0, row.artifact.ratio or 1.0)
    return factors
