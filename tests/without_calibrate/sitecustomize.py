"""Makes this Python an install of pytest-tokencost without the calibration harness.

Put this folder on PYTHONPATH (Python imports `sitecustomize` at start-up, and the variable
reaches pytester's subprocesses): `import calibrate` then fails as it would were the
pytest-tokencost-calibrate distribution not installed, and no installed distribution declares
the entry points that name it (the `tokencost-calibrate` pytest plugin, the `tokencost ratio`
command).

Used by tests/test_import_graph.py, in the suite's own environment where the harness is
installed; .ci/run also runs the core's tests in a real install of the core alone.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import sys
from collections.abc import Sequence
from types import ModuleType

HIDDEN = "calibrate"


class _HideHarness(importlib.abc.MetaPathFinder):
    """Finds `calibrate` and its submodules nowhere."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == HIDDEN or fullname.startswith(HIDDEN + "."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


_read_text = importlib.metadata.PathDistribution.read_text


def _read_text_without_harness(
    self: importlib.metadata.PathDistribution, filename: str
) -> str | None:
    """The distribution's files as read, but its entry points naming `calibrate` left out."""
    text = _read_text(self, filename)
    if filename != "entry_points.txt" or text is None:
        return text
    kept = [
        line for line in text.splitlines() if not line.partition("=")[2].strip().startswith(HIDDEN)
    ]
    return "\n".join(kept) + "\n"


sys.meta_path.insert(0, _HideHarness())
importlib.metadata.PathDistribution.read_text = _read_text_without_harness  # type: ignore[method-assign]
