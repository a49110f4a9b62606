"""Moved to `pytest_tokencost.report.empty_report`; this path keeps existing imports working."""

from __future__ import annotations

from .report.empty_report import *  # noqa: F403
from .report.empty_report import __all__ as __all__
