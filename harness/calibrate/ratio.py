"""Stub-vs-wet ratios: how far the stub's size estimates are from what a real run measured.

Samples are the (case, step) pairs that both runs completed. For every step there is one row
over all of its models (model "*") and one row per wet model (a step that two models answered
appears in both models' rows, each with that model's share of the wet tokens). A row gives the
ratio of sums (wet / stub) for prompt and artifact tokens, the per-sample ratios' mean,
standard deviation, minimum and maximum, and the sample count.

A ratio is only worth having against real counts: a wet run whose samples are not `reported`
or `counted` (a step that fell back to an estimate) is refused unless `allow_estimated`, and
then every such sample is listed. The ratio file names its scenario and steps and records the
wet run's model mix; a later stub run given it (`--cost-calibration`) multiplies its estimates
by the per-step "*" ratios, labels them `calibrated`, and prices them as the step's wet model
when that step had exactly one.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from pytest_tokencost.errors import ReportFileError, TokenCostError
from pytest_tokencost.outdir import atomic_write_text
from pytest_tokencost.records import Provenance
from pytest_tokencost.report import read_json_model

from .recording import StepRatio
from .report import CalibrationReport

if TYPE_CHECKING:
    from .runner import StepResult
    from .scenario import Scenario

__all__ = [
    "FallbackSample",
    "RatioDocument",
    "RatioError",
    "RatioFile",
    "RatioRow",
    "RatioStat",
    "compute_ratios",
    "load_ratios",
    "render_markdown",
    "tokenizer_ratios",
    "write_ratios",
]

ALL_MODELS = "*"
UNKNOWN_MODEL = "(unknown model)"
#: What a wet sample's counts must be for its ratio to measure anything.
REAL_COUNTS = frozenset({Provenance.REPORTED, Provenance.COUNTED})


class RatioError(TokenCostError):
    """Two reports that cannot be compared, or an unreadable or unsuitable ratio file."""


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
    fallback_samples: int = Field(
        default=0, description="Samples whose wet counts were estimates (--allow-estimated)."
    )
    stub_prompt_tokens: int
    wet_prompt_tokens: int
    stub_artifact_tokens: int
    wet_artifact_tokens: int
    prompt: RatioStat
    artifact: RatioStat


class FallbackSample(BaseModel):
    """A wet (case, step) whose counts were not reported or counted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case: str
    step: str
    provenance: Provenance | None


class RatioDocument(BaseModel):
    """The JSON file `tokencost ratio` writes, and `--cost-calibration` reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[2] = 2
    kind: Literal["runs", "tokenizers"] = Field(
        default="runs",
        description='"runs": a stub run against a wet run (usable with --cost-calibration); '
        '"tokenizers": the documentation run, bytes/4 against exact tokenizer counts.',
    )
    command: str | None = Field(default=None, description="The command that wrote this file.")
    scenario: str
    steps: list[str] = Field(description="The steps this file has ratios for, in order.")
    stub_run: str
    wet_run: str
    stub_adapter: str
    wet_adapter: str
    wet_provenance: str = Field(description="Where the wet run's counts came from.")
    wet_models: dict[str, dict[str, int]] = Field(
        description="The wet run's model mix: per step, each model's tokens (input + output)."
    )
    fallback_samples: list[FallbackSample] = Field(default_factory=list)
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


class _Sample(NamedTuple):
    case: str
    step: str
    model: str
    stub_prompt: int
    wet_prompt: int
    stub_artifact: int
    wet_artifact: int
    fallback: bool


def _row(step: str, model: str, samples: Iterable[_Sample]) -> RatioRow:
    chosen = list(samples)
    return RatioRow(
        step=step,
        model=model,
        samples=len(chosen),
        fallback_samples=sum(s.fallback for s in chosen),
        stub_prompt_tokens=sum(s.stub_prompt for s in chosen),
        wet_prompt_tokens=sum(s.wet_prompt for s in chosen),
        stub_artifact_tokens=sum(s.stub_artifact for s in chosen),
        wet_artifact_tokens=sum(s.wet_artifact for s in chosen),
        prompt=_stat([(s.stub_prompt, s.wet_prompt) for s in chosen]),
        artifact=_stat([(s.stub_artifact, s.wet_artifact) for s in chosen]),
    )


def compute_ratios(
    stub: CalibrationReport,
    wet: CalibrationReport,
    *,
    allow_estimated: bool = False,
    command: str | None = None,
) -> RatioDocument:
    """Compare a stub run with a wet run of the same scenario, step by step and model by model.

    Raises `RatioError` when the wet run has samples whose counts are estimates, naming every
    one, unless `allow_estimated` (then they are kept, counted per row and listed).
    """
    if stub.scenario != wet.scenario:
        raise RatioError(
            f"the reports are of different scenarios ({stub.scenario!r} and {wet.scenario!r})"
        )
    whole: list[_Sample] = []  # one per (case, step): the step's wet tokens over all models
    parts: list[_Sample] = []  # one per (case, step, model): that model's share
    fallbacks: list[FallbackSample] = []
    for case_id, stub_step, wet_step in _completed_in_both(stub, wet):
        fallback = wet_step.provenance not in REAL_COUNTS
        if fallback:
            fallbacks.append(
                FallbackSample(case=case_id, step=stub_step.step, provenance=wet_step.provenance)
            )
        whole.append(
            _sample(
                case_id,
                stub_step,
                ALL_MODELS,
                wet_step.prompt_tokens,
                wet_step.artifact_tokens,
                fallback,
            )
        )
        shares = wet_step.model_tokens or {
            wet_step.model or UNKNOWN_MODEL: (wet_step.prompt_tokens, wet_step.artifact_tokens)
        }
        parts.extend(
            _sample(case_id, stub_step, model, prompt, artifact, fallback)
            for model, (prompt, artifact) in shares.items()
        )
    if not whole:
        raise RatioError("the two reports have no (case, step) completed in both runs")
    if fallbacks and not allow_estimated:
        _refuse_estimates(wet.run_id, fallbacks)
    steps = list(dict.fromkeys(sample.step for sample in whole))
    rows, mix = _rows(steps, whole, parts)
    return RatioDocument(
        command=command,
        scenario=stub.scenario,
        steps=steps,
        stub_run=stub.run_id,
        wet_run=wet.run_id,
        stub_adapter=stub.adapter,
        wet_adapter=wet.adapter,
        wet_provenance=wet.token_counts,
        wet_models=mix,
        fallback_samples=fallbacks,
        rows=rows,
    )


def _completed_in_both(
    stub: CalibrationReport, wet: CalibrationReport
) -> Iterator[tuple[str, StepResult, StepResult]]:
    """(case id, stub step, wet step) of every step that completed in both runs, in the stub
    run's order."""
    wet_cases = {case.case_id: case for case in wet.cases}
    for stub_case in stub.cases:
        wet_case = wet_cases.get(stub_case.case_id)
        if wet_case is None:
            continue
        wet_steps = {step.step: step for step in wet_case.steps if step.error is None}
        for stub_step in stub_case.steps:
            wet_step = wet_steps.get(stub_step.step)
            if stub_step.error is None and wet_step is not None:
                yield stub_case.case_id, stub_step, wet_step


def _sample(
    case_id: str, stub_step: StepResult, model: str, prompt: int, artifact: int, fallback: bool
) -> _Sample:
    """One sample: the stub's sizes of a step against `model`'s wet tokens."""
    return _Sample(
        case_id,
        stub_step.step,
        model,
        stub_step.prompt_tokens,
        prompt,
        stub_step.artifact_tokens,
        artifact,
        fallback,
    )


def _refuse_estimates(wet_run: str, fallbacks: list[FallbackSample]) -> None:
    """Raise `RatioError` naming the wet samples whose counts are estimates."""
    listed = ", ".join(f"{f.case}/{f.step} ({f.provenance or 'no count'})" for f in fallbacks)
    raise RatioError(
        f"the wet run {wet_run} has {len(fallbacks)} sample(s) whose counts are not "
        f"reported or counted: {listed}; a ratio against estimates measures nothing. Run it "
        "with real counts (--cost-transcripts for a file agent) or pass --allow-estimated "
        "to keep them (they are then listed in the document)"
    )


def _rows(
    steps: list[str], whole: list[_Sample], parts: list[_Sample]
) -> tuple[list[RatioRow], dict[str, dict[str, int]]]:
    """Per step: its row over all models, then a row per model; and each step's wet model mix
    (tokens, input + output)."""
    rows = []
    mix: dict[str, dict[str, int]] = {}
    for step in steps:
        rows.append(_row(step, ALL_MODELS, (s for s in whole if s.step == step)))
        of_step = [s for s in parts if s.step == step]
        for model in sorted({s.model for s in of_step}):
            chosen = [s for s in of_step if s.model == model]
            rows.append(_row(step, model, chosen))
            mix.setdefault(step, {})[model] = sum(s.wet_prompt + s.wet_artifact for s in chosen)
    return rows, mix


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _model_label(model: str) -> str:
    from pytest_tokencost.counting import encoding_name_for

    encoding = None if model in (ALL_MODELS, UNKNOWN_MODEL) else encoding_name_for(model)
    return f"{model} ({encoding})" if encoding else model


def render_markdown(document: RatioDocument) -> str:
    """The ratio document for people; its first lines say how to write it again."""
    lines = [f"# Token ratios: {document.scenario}", ""]
    if document.command:
        lines += [f"Regenerate with `{document.command}`.", ""]
    lines += [_introduction(document), ""]
    lines += _table(document)
    if document.kind == "tokenizers":
        lines += _tokenizer_totals(document)
    else:
        lines += _wet_mix(document)
    return "\n".join(lines) + "\n"


def _introduction(document: RatioDocument) -> str:
    """What the document compares, and how to read a ratio."""
    if document.kind == "tokenizers":
        return (
            f"The stub's bytes/4 estimates (UTF-8 bytes / 4, rounded up) of the prompts and "
            f"ground-truth answers of scenario `{document.scenario}` (steps "
            f"{', '.join(document.steps)}), against exact counts of the same texts with "
            "o200k_base (gpt-4o, gpt-4.1, gpt-5, o-series) and cl100k_base (gpt-4, "
            "gpt-3.5). A ratio is exact / estimate: below 1 bytes/4 overestimates. "
            '"ratio" divides the sums; mean, sd, min and max describe the per-case ratios. '
            "Prompts are counted as plain text, without the chat-message overhead."
        )
    return (
        f"Stub run `{document.stub_run}` ({document.stub_adapter}) against wet run "
        f"`{document.wet_run}` ({document.wet_adapter}; counts {document.wet_provenance}), "
        f"steps {', '.join(document.steps)}. A ratio is wet / stub: above 1 the stub "
        'underestimates. "ratio" divides the sums; mean, sd, min and max describe the '
        "per-sample ratios (one sample per case). Model `*` is every model of the step "
        "together; a row of a model has that model's share of the step's wet tokens."
    )


def _table(document: RatioDocument) -> list[str]:
    """The table of rows: per step and model, prompt and artifact ratios."""
    lines = [
        "| step | model | samples | prompt stub | prompt wet | prompt ratio | prompt mean ± sd "
        "| prompt min..max | artifact stub | artifact wet | artifact ratio | artifact mean ± sd "
        "| artifact min..max |",
        "| --- | --- " + "| ---: " * 11 + "|",
    ]
    for row in document.rows:
        p, a = row.prompt, row.artifact
        lines.append(
            f"| {row.step} | {_model_label(row.model)} | {row.samples} | "
            f"{row.stub_prompt_tokens:,} | {row.wet_prompt_tokens:,} | {_fmt(p.ratio)} | "
            f"{_fmt(p.mean)} ± {_fmt(p.stdev)} | {_fmt(p.min)}..{_fmt(p.max)} | "
            f"{row.stub_artifact_tokens:,} | {row.wet_artifact_tokens:,} | {_fmt(a.ratio)} | "
            f"{_fmt(a.mean)} ± {_fmt(a.stdev)} | {_fmt(a.min)}..{_fmt(a.max)} |"
        )
    return lines


def _tokenizer_totals(document: RatioDocument) -> list[str]:
    """The documentation run's totals: each encoding's exact count against the estimate."""
    lines = ["", "All steps together (prompt + artifact tokens):", ""]
    stub = sum(
        r.stub_prompt_tokens + r.stub_artifact_tokens
        for r in document.rows
        if r.model == document.rows[0].model
    )
    for model in dict.fromkeys(r.model for r in document.rows):
        exact = sum(
            r.wet_prompt_tokens + r.wet_artifact_tokens for r in document.rows if r.model == model
        )
        lines.append(
            f"* {_model_label(model)}: {exact:,} exact vs {stub:,} estimated "
            f"(ratio {exact / stub:.3f})"
        )
    return lines


def _wet_mix(document: RatioDocument) -> list[str]:
    """The wet run's models per step, and the samples that fell back to estimates."""
    lines = ["", "Wet model mix (tokens, input + output):", ""]
    for step, models in document.wet_models.items():
        mix = ", ".join(f"{_model_label(model)} {tokens:,}" for model, tokens in models.items())
        lines.append(f"* {step}: {mix}")
    if document.fallback_samples:
        lines += [
            "",
            f"{len(document.fallback_samples)} wet sample(s) fell back to estimated counts "
            "(kept with --allow-estimated; their ratio says nothing about the model):",
            "",
        ]
        lines += [
            f"* {f.case} / {f.step}: {f.provenance or 'no count'}"
            for f in document.fallback_samples
        ]
    return lines


def write_ratios(document: RatioDocument, markdown: Path, json_path: Path) -> None:
    """Write the Markdown document and the JSON ratio file, each atomically."""
    atomic_write_text(markdown, render_markdown(document))
    atomic_write_text(json_path, document.model_dump_json(indent=2) + "\n")


class RatioFile(NamedTuple):
    """A loaded ratio file: per-step factors (the "*" rows) and the wet model of each step."""

    path: Path
    document: RatioDocument
    factors: dict[str, StepRatio]

    def check(self, scenario: Scenario) -> list[str]:
        """Refuse another scenario's file; warnings for the scenario's steps it lacks."""
        if self.document.scenario != scenario.id:
            raise RatioError(
                f"the ratio file {self.path} was made for scenario "
                f"{self.document.scenario!r}, not {scenario.id!r}; run `tokencost ratio` on "
                f"runs of {scenario.id!r}"
            )
        missing = [step.name for step in scenario.steps if step.name not in self.factors]
        if not missing:
            return []
        return [
            f"the ratio file {self.path} has no ratio for step(s) {', '.join(missing)} of "
            f"scenario {scenario.id!r}: their estimates stay uncalibrated"
        ]


def load_ratios(path: Path) -> RatioFile:
    """Read a ratio JSON file written by `tokencost ratio`."""
    try:
        document = read_json_model(path, RatioDocument, "ratio file")
    except ReportFileError as exc:
        raise RatioError(f"{path} is not a ratio file written by `tokencost ratio`: {exc}") from exc
    if document.kind == "tokenizers":
        raise RatioError(
            f"{path} compares bytes/4 with exact tokenizers (the documentation run); it does "
            "not calibrate a stub run. Give the ratio file of a stub run against a wet run"
        )
    factors = {}
    for row in document.rows:
        if row.model != ALL_MODELS:
            continue
        models = [m for m in document.wet_models.get(row.step, {}) if m != UNKNOWN_MODEL]
        factors[row.step] = StepRatio(
            row.prompt.ratio or 1.0,
            row.artifact.ratio or 1.0,
            models[0] if len(models) == 1 else None,
        )
    if not factors:
        raise RatioError(
            f'{path} has no per-step "*" rows to scale estimates with (a tokenizer '
            "comparison such as docs/token-ratio.json documents, it does not calibrate)"
        )
    return RatioFile(path, document, factors)


#: Exact tokenizers the documentation run compares the stub's bytes/4 estimate with.
DOC_MODELS = ("gpt-4o", "gpt-4")


def tokenizer_ratios(scenario_path: Path, *, command: str | None = None) -> RatioDocument:
    """The documentation run: the stub's bytes/4 estimates of a scenario's prompts and
    ground-truth answers against exact counts with o200k_base (gpt-4o) and cl100k_base (gpt-4).

    Deterministic: nothing in it depends on the time or the machine.
    """
    from pytest_tokencost.tracker import InMemoryTokenTracker

    from .adapters import AdapterContext, StubAdapter
    from .runner import RunConfig, run_case
    from .scenario import load_scenario
    from .session import CalibrationCollector

    scenario = load_scenario(scenario_path)

    def run(model: str | None, label: str) -> CalibrationReport:
        config = RunConfig(scenario, StubAdapter(), AdapterContext(scenario=scenario, model=model))
        collector = CalibrationCollector("stub", StubAdapter.provenance, None)
        records, runs = [], []
        for case in scenario.cases:
            tracker = InMemoryTokenTracker(test_id=case.id)
            result = run_case(config, case, tracker)
            records += tracker.records()
            runs += tracker.scope_runs()
            collector.add({"scenario": scenario.id, "result": result.model_dump(mode="json")})
        return collector.reports(label, records, runs)[scenario.id]

    stub = run(None, "bytes/4")
    rows: list[RatioRow] = []
    mix: dict[str, dict[str, int]] = {}
    for model in DOC_MODELS:
        exact = compute_ratios(stub, run(model, model))
        rows += [row for row in exact.rows if row.model != ALL_MODELS]
        for step, models in exact.wet_models.items():
            mix.setdefault(step, {}).update(models)
    steps = [step.name for step in scenario.steps]
    rows.sort(key=lambda row: (steps.index(row.step), DOC_MODELS.index(row.model)))
    return RatioDocument(
        kind="tokenizers",
        command=command,
        scenario=scenario.id,
        steps=steps,
        stub_run="stub, bytes/4 estimates",
        wet_run="exact tokenizer counts of the same prompts and answers",
        stub_adapter="stub",
        wet_adapter="stub --adapter-model gpt-4o / gpt-4",
        wet_provenance="counted",
        wet_models=mix,
        rows=rows,
    )
