"""Moved to `pytest_tokencost.report.gate_options`; this path keeps existing imports working."""

from __future__ import annotations

from .report.gate_options import *  # noqa: F403
from .report.gate_options import __all__ as __all__
