"""Moved to `pytest_tokencost.report.history_schema`; this path keeps existing imports working."""

from __future__ import annotations

from .report.history_schema import *  # noqa: F403
from .report.history_schema import __all__ as __all__
