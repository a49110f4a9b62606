"""Stub-vs-wet ratios: computed as by hand, written, and applied to a later stub run."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

from calibrate.metrics import compute_metrics
from calibrate.ratio import RatioError, compute_ratios, load_ratios
from calibrate.report import CalibrationReport
from calibrate.runner import CaseResult, StepResult
from pytest_tokencost import Provenance, TokenSummary

from .conftest import copy_scenario

TOKENCOST = str(Path(sys.executable).with_name("tokencost"))


def _report(
    adapter: str, steps: dict[str, list[tuple[str, str | None, int, int]]]
) -> CalibrationReport:
    """A calibration report whose cases have the given (step, model, prompt, artifact) tokens."""
    kind = Provenance.ESTIMATED if adapter == "stub" else Provenance.REPORTED
    cases = []
    for case_id, rows in steps.items():
        results = [
            StepResult(
                step=step,
                model=model,
                models=[model] if model else [],
                model_tokens={model: (p, a)} if model else {},
                provenance=kind,
                prompt_tokens=p,
                artifact_tokens=a,
            )
            for step, model, p, a in rows
        ]
        cases.append(
            CaseResult(
                case_id=case_id,
                steps=results,
                prompt_tokens=0,
                artifact_tokens=0,
                step_count=len(results),
                wall_ms=0,
                passed=True,
            )
        )
    return CalibrationReport(
        run_id=f"run-{adapter}",
        scenario="tiny",
        adapter=adapter,
        adapter_provenance=kind,
        token_counts=kind.value,
        metrics=compute_metrics(cases, TokenSummary()),
        cases=cases,
        tokens=TokenSummary(),
    )


STUB = _report(
    "stub",
    {
        "c1": [("triage", None, 100, 20), ("report", None, 50, 40)],
        "c2": [("triage", None, 200, 10), ("report", None, 80, 40)],
        "c3": [("triage", None, 300, 30)],
    },
)
WET = _report(
    "openai",
    {
        "c1": [("triage", "gpt-4o", 130, 30), ("report", "gpt-4o", 60, 60)],
        "c2": [("triage", "gpt-4o-mini", 240, 10), ("report", "gpt-4o", 100, 20)],
        "c4": [("triage", "gpt-4o", 999, 999)],  # not in the stub run: no sample
    },
)


def test_ratios_equal_the_hand_computed_figures() -> None:
    document = compute_ratios(STUB, WET)
    rows = {(row.step, row.model): row for row in document.rows}
    triage = rows[("triage", "*")]
    # Samples c1 and c2 (c3 has no wet run, c4 no stub run).
    assert triage.samples == 2
    assert triage.prompt.ratio == pytest.approx((130 + 240) / (100 + 200))  # 1.2333
    assert triage.prompt.mean == pytest.approx((1.3 + 1.2) / 2)
    assert triage.prompt.stdev == pytest.approx(statistics.stdev([1.3, 1.2]))
    assert (triage.prompt.min, triage.prompt.max) == (pytest.approx(1.2), pytest.approx(1.3))
    assert triage.artifact.ratio == pytest.approx((30 + 10) / (20 + 10))
    assert rows[("triage", "gpt-4o")].samples == 1
    assert rows[("triage", "gpt-4o")].prompt.ratio == pytest.approx(1.3)
    assert rows[("triage", "gpt-4o-mini")].prompt.ratio == pytest.approx(1.2)
    report = rows[("report", "*")]
    assert report.prompt.ratio == pytest.approx(160 / 130)
    assert report.artifact.ratio == pytest.approx(80 / 80)
    assert report.artifact.stdev == pytest.approx(statistics.stdev([1.5, 0.5]))


def test_reports_of_different_scenarios_are_refused() -> None:
    other = STUB.model_copy(update={"scenario": "other"})
    with pytest.raises(RatioError, match="different scenarios"):
        compute_ratios(other, WET)


def test_the_cli_writes_markdown_and_json(tmp_path: Path, pytester: pytest.Pytester) -> None:
    stub, wet = tmp_path / "stub.json", tmp_path / "wet.json"
    STUB.write(stub)
    WET.write(wet)
    out = tmp_path / "docs" / "token-ratio.md"
    result = pytester.run(TOKENCOST, "ratio", str(stub), str(wet), "--out", str(out))
    assert result.ret == 0
    text = out.read_text()
    assert (
        "| triage | * | 2 | 300 | 370 | 1.233 | 1.250 ± 0.071 | 1.200..1.300 | 30 | 40 | 1.333 |"
    ) in text
    assert "* triage: gpt-4o (o200k_base) 160, gpt-4o-mini (o200k_base) 250" in text
    ratios = json.loads(out.with_suffix(".json").read_text())
    assert ratios["wet_adapter"] == "openai"
    assert ratios["steps"] == ["triage", "report"]
    assert ratios["wet_models"] == {
        "triage": {"gpt-4o": 160, "gpt-4o-mini": 250},
        "report": {"gpt-4o": 240},
    }
    factors = load_ratios(out.with_suffix(".json")).factors
    assert factors["triage"] == (pytest.approx(370 / 300), pytest.approx(40 / 30), None)
    assert factors["report"].model == "gpt-4o"  # one wet model: calibrated records priced as it


def test_a_later_stub_run_applies_the_ratios(
    plugin_pytester: pytest.Pytester, tmp_path: Path
) -> None:
    copy_scenario(plugin_pytester.path, cases=2)
    plugin_pytester.runpytest("-m", "calibration", "--adapter=stub").assert_outcomes(passed=2)
    out = plugin_pytester.path / ".tokencost"
    plain = json.loads((out / "calibration-report.json").read_text())
    # A ratio file saying real prompts are 1.5x the estimate and real artifacts 0.5x it.
    document = compute_ratios(
        CalibrationReport.model_validate(plain),
        CalibrationReport.model_validate(plain),
        allow_estimated=True,
    )
    doubled = document.model_copy(
        update={
            "rows": [
                row.model_copy(
                    update={
                        "prompt": row.prompt.model_copy(update={"ratio": 1.5}),
                        "artifact": row.artifact.model_copy(update={"ratio": 0.5}),
                    }
                )
                for row in document.rows
            ]
        }
    )
    ratios = tmp_path / "ratios.json"
    ratios.write_text(doubled.model_dump_json())
    result = plugin_pytester.runpytest(
        "-m", "calibration", "--adapter=stub", f"--cost-calibration={ratios}", "--cost-report"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["Counts: * calibrated", "Estimates scaled by the ratios in *"])
    scaled = json.loads((out / "calibration-report.json").read_text())
    for before, after in zip(plain["cases"], scaled["cases"], strict=True):
        for b, a in zip(before["steps"], after["steps"], strict=True):
            assert a["prompt_tokens"] == round(b["prompt_tokens"] * 1.5)
            assert a["artifact_tokens"] == round(b["artifact_tokens"] * 0.5)
            assert a["provenance"] == "calibrated"


def test_a_bad_ratio_file_is_a_usage_error(plugin_pytester: pytest.Pytester) -> None:
    copy_scenario(plugin_pytester.path, cases=1)
    (plugin_pytester.path / "ratios.json").write_text("{}")
    result = plugin_pytester.runpytest("--adapter=stub", "--cost-calibration=ratios.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ratios.json is not a ratio file written by `tokencost ratio`*"])


def test_m18_falls_back_to_steps_times_1000_only_when_nothing_was_measured() -> None:
    metrics = compute_metrics(STUB.cases, TokenSummary())
    assert metrics.m18_source == "fallback: steps x 1000"
    assert metrics.m18_total_prompt_tokens == 5 * 1000
