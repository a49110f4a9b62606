"""Moved to `pytest_tokencost.report.render`; this path keeps existing imports working."""

from __future__ import annotations

from .report.render import *  # noqa: F403
from .report.render import __all__ as __all__
