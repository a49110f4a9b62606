"""Moved to `pytest_tokencost.providers.capture_botocore`; this name keeps old imports working.

The module object is the moved one (not a copy), so its private names and anything patched on
it are the same under both names.
"""

from __future__ import annotations

import sys

from .providers import capture_botocore as _moved
from .providers.capture_botocore import *  # noqa: F403

sys.modules[__name__] = _moved
