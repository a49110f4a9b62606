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

from ..conftest import copy_scenario

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


def _with_fallback() -> CalibrationReport:
    """WET, with c2's report step answered but counted by the bytes/4 fallback."""
    cases = []
    for case in WET.cases:
        steps = [
            step.model_copy(
                update={
                    "provenance": Provenance.ESTIMATED,
                    "model": None,
                    "models": [],
                    "model_tokens": {},
                }
            )
            if (case.case_id, step.step) == ("c2", "report")
            else step
            for step in case.steps
        ]
        cases.append(case.model_copy(update={"steps": steps}))
    return WET.model_copy(update={"cases": cases})


def test_a_wet_run_with_estimated_samples_is_refused_and_each_is_named(
    tmp_path: Path, pytester: pytest.Pytester
) -> None:
    wet = _with_fallback()
    with pytest.raises(RatioError, match=r"1 sample\(s\) .* c2/report \(estimated\).*--allow-"):
        compute_ratios(STUB, wet)
    stub_path, wet_path = tmp_path / "stub.json", tmp_path / "wet.json"
    STUB.write(stub_path)
    wet.write(wet_path)
    out = tmp_path / "ratio.md"
    refused = pytester.run(TOKENCOST, "ratio", str(stub_path), str(wet_path), "--out", str(out))
    assert refused.ret == 2 and not out.exists()
    refused.stderr.fnmatch_lines(["tokencost: error: the wet run run-openai has 1 sample(s)*"])
    kept = pytester.run(
        TOKENCOST, "ratio", str(stub_path), str(wet_path), "--out", str(out), "--allow-estimated"
    )
    assert kept.ret == 0
    document = json.loads(out.with_suffix(".json").read_text())
    assert document["fallback_samples"] == [
        {"case": "c2", "step": "report", "provenance": "estimated"}
    ]
    rows = {(row["step"], row["model"]): row for row in document["rows"]}
    assert rows[("report", "*")]["fallback_samples"] == 1
    assert rows[("report", "(unknown model)")]["samples"] == 1
    assert "* c2 / report: estimated" in out.read_text()
    assert document["command"].endswith("--allow-estimated")


def _ratio_file(tmp_path: Path, scenario: str, steps: dict[str, str]) -> Path:
    """A ratio file for `scenario` with a prompt ratio of 2 and an artifact ratio of 0.5 for
    each of `steps`, each answered by the given wet model."""
    stub = STUB.model_copy(update={"scenario": scenario})
    wet = WET.model_copy(update={"scenario": scenario})
    document = compute_ratios(stub, wet)
    stat = document.rows[0].prompt
    rows = [
        document.rows[0].model_copy(
            update={
                "step": step,
                "model": "*",
                "prompt": stat.model_copy(update={"ratio": 2.0}),
                "artifact": stat.model_copy(update={"ratio": 0.5}),
            }
        )
        for step in steps
    ]
    path = tmp_path / f"{scenario}.ratio.json"
    path.write_text(
        document.model_copy(
            update={
                "steps": list(steps),
                "rows": rows,
                "wet_models": {step: {model: 1} for step, model in steps.items()},
            }
        ).model_dump_json()
    )
    return path


def test_a_ratio_file_of_another_scenario_is_refused(
    plugin_pytester: pytest.Pytester, tmp_path: Path
) -> None:
    copy_scenario(plugin_pytester.path, cases=1)
    ratios = _ratio_file(tmp_path, "other-scenario", {"recall": "gpt-4o"})
    result = plugin_pytester.runpytest("--adapter=stub", f"--cost-calibration={ratios}")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*the ratio file *other-scenario.ratio.json was made for scenario 'other-scenario', "
            "not 'ptp-mock'*"
        ]
    )


def test_calibrated_records_are_priced_as_the_wet_model_and_missing_steps_warned(
    plugin_pytester: pytest.Pytester, tmp_path: Path
) -> None:
    copy_scenario(plugin_pytester.path, cases=1)
    sonnet = "claude-sonnet-4-5-20250929"
    ratios = _ratio_file(tmp_path, "ptp-mock", {"recall": sonnet, "triage": sonnet})
    result = plugin_pytester.runpytest(
        "-m", "calibration", "--adapter=stub", f"--cost-calibration={ratios}", "--cost-report"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*the ratio file *ptp-mock.ratio.json has no ratio for step(s) investigate, report of "
            "scenario 'ptp-mock': their estimates stay uncalibrated*"
        ]
    )
    out = plugin_pytester.path / ".tokencost"
    records = {
        json.loads(line)["step"]: json.loads(line)
        for line in (out / "records.jsonl").read_text().splitlines()
    }
    for step in ("recall", "triage"):
        record = records[step]
        assert record["provenance"] == "calibrated" and record["model"] == sonnet
        assert record["price_source"] == "genai-prices"
        prompt_bytes = record["prompt_bytes"]
        assert record["usage"]["input"] == round(((prompt_bytes + 3) // 4) * 2.0)
    for step in ("investigate", "report"):
        assert records[step]["provenance"] == "estimated" and records[step]["model"] is None
        assert records[step]["price_source"] == "default-rate"
    calibration = json.loads((out / "calibration-report.json").read_text())
    assert calibration["adapter_provenance"] == "estimated"  # the weakest part of the mix
    assert calibration["metrics"]["m18_source"] in (
        "mixed: calibrated + estimated",
        "mixed: estimated + calibrated",
    )
