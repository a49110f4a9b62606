"""Moved to `pytest_tokencost.providers.post_import`; this name keeps old imports working.

The module object is the moved one (not a copy), so its private names and anything patched on
it are the same under both names.
"""

from __future__ import annotations

import sys

from .providers import post_import as _moved
from .providers.post_import import *  # noqa: F403

sys.modules[__name__] = _moved
