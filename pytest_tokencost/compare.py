"""Moved to `pytest_tokencost.report.compare`; this path keeps existing imports working."""

from __future__ import annotations

from .report.compare import *  # noqa: F403
from .report.compare import __all__ as __all__
