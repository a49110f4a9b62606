"""Moved to `pytest_tokencost.report.history`; this path keeps existing imports working."""

from __future__ import annotations

from .report.history import *  # noqa: F403
from .report.history import __all__ as __all__
