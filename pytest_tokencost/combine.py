"""Moved to `pytest_tokencost.report.combine`; this path keeps existing imports working.

The old name is the same module object (`sys.modules`), so every name, private ones and
monkeypatching included, behaves as before; the star import is for type checkers.
"""

from __future__ import annotations

import sys

from .report import combine as _home
from .report.combine import *  # noqa: F403
from .report.combine import __all__ as __all__

sys.modules[__name__] = _home
