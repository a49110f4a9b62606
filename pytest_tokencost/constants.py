"""Constants that several parts of pytest-tokencost (and the calibration harness) share.

Defined once here so that a default cannot drift between the options' help, the settings, the
budget pools and the reports. Light: loaded at every pytest start.
"""

from __future__ import annotations

__all__ = ["CALIBRATION_REPORT_NAME", "DEFAULT_WARN_AT", "OUTPUT_DIR_NAME"]

#: The output folder's name under pytest's rootdir (`--cost-dir`, ini `tokencost_dir`).
OUTPUT_DIR_NAME = ".tokencost"
#: The share of a budget at which a warning is given (`--cost-warn-at`, ini `tokencost_warn_at`).
DEFAULT_WARN_AT = 0.8
#: The calibration harness's report beside token-report.json (``<scenario>-`` before it when a
#: run has several scenarios); the core's HTML page reads it (`calibration_data`).
CALIBRATION_REPORT_NAME = "calibration-report.json"
