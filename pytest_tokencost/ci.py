"""Moved to `pytest_tokencost.report.ci`; this path keeps existing imports working."""

from __future__ import annotations

from .report.ci import *  # noqa: F403
from .report.ci import __all__ as __all__
