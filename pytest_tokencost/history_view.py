"""Moved to `pytest_tokencost.report.history_view`; this path keeps existing imports working."""

from __future__ import annotations

from .report.history_view import *  # noqa: F403
from .report.history_view import __all__ as __all__
