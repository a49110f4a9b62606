"""Moved to `pytest_tokencost.report.combine`; this path keeps existing imports working."""

from __future__ import annotations

from .report.combine import *  # noqa: F403
from .report.combine import __all__ as __all__
