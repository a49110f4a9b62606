"""The core reads the harness's `calibration-report.json` as plain data (`calibration_data`,
so that it never imports `calibrate`): what the harness writes, the core reads, same values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calibrate.cli import run_scenario
from pytest_tokencost.calibration_data import CALIBRATION_REPORT_NAME, read_calibration_data

from ..conftest import PTP_MOCK


def _shown_part(full: Any, shown: Any) -> Any:
    """`full` cut down to the keys of `shown` (dicts), item by item (lists)."""
    if isinstance(shown, dict) and isinstance(full, dict):
        return {key: _shown_part(full.get(key), value) for key, value in shown.items()}
    if isinstance(shown, list) and isinstance(full, list):
        return [_shown_part(f, s) for f, s in zip(full, shown, strict=False)]
    return full


def test_a_calibration_report_reads_as_the_cores_plain_data(tmp_path: Path) -> None:
    """What the harness writes, the core reads (`calibration_data`): same values."""
    _, report = run_scenario(PTP_MOCK, adapter="stub", output_dir=tmp_path)
    data = read_calibration_data(tmp_path / CALIBRATION_REPORT_NAME)
    shown = data.model_dump(mode="json")
    assert set(shown) == {
        *("schema_version", "run_id", "scenario", "adapter", "token_counts"),
        *("metrics", "cases", "tokens"),
    }
    assert len(shown["cases"]) == 12 and shown["metrics"]["cases"] == 12
    assert _shown_part(report.model_dump(mode="json"), shown) == shown
