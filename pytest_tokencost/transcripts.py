"""Moved to `pytest_tokencost.providers.transcripts`; this name keeps old imports working.

The module object is the moved one (not a copy), so its private names and anything patched on
it are the same under both names.
"""

from __future__ import annotations

import sys

from .providers import transcripts as _moved
from .providers.transcripts import *  # noqa: F403

sys.modules[__name__] = _moved
