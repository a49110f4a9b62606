"""Moved to `pytest_tokencost.report.history_view`; this path keeps existing imports working.

The old name is the same module object (`sys.modules`), so every name, private ones and
monkeypatching included, behaves as before; the star import is for type checkers.
"""

from __future__ import annotations

import sys

from .report import history_view as _home
from .report.history_view import *  # noqa: F403
from .report.history_view import __all__ as __all__

sys.modules[__name__] = _home
