"""Moved to `pytest_tokencost.report.junit`; this path keeps existing imports working."""

from __future__ import annotations

from .report.junit import *  # noqa: F403
from .report.junit import __all__ as __all__
