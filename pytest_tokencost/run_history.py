"""Moved to `pytest_tokencost.report.run_history`; this path keeps existing imports working."""

from __future__ import annotations

from .report.run_history import *  # noqa: F403
from .report.run_history import __all__ as __all__
