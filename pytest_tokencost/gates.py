"""Moved to `pytest_tokencost.report.gates`; this path keeps existing imports working."""

from __future__ import annotations

from .report.gates import *  # noqa: F403
from .report.gates import __all__ as __all__
