"""Run a callback once a module is imported: now if it already is, else right after its import.

Capture wraps classes of httpx2, httpx, botocore and urllib3. Importing them up front would
cost a suite that never uses them (botocore alone takes longer to import than the plugin), so
`ImportWatch` waits for the suite's own import: a finder at the front of `sys.meta_path` finds
the watched module's spec through the other finders and gives it a loader that runs the
module as usual, then the callback, then puts the module's own loader back on it. Nothing
else is imported, and a watched module looks afterwards exactly as it would have.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

__all__ = ["ImportWatch"]


class _Loader(importlib.abc.Loader):
    """Runs the module with its own loader, then the callbacks waiting for it."""

    def __init__(self, inner: Any, callbacks: list[Callable[[], object]]) -> None:
        self.inner = inner
        self.callbacks = callbacks

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create: Callable[[ModuleSpec], ModuleType | None] | None = getattr(
            self.inner, "create_module", None
        )
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps its own loader (importlib.resources and others read it).
        module.__loader__ = self.inner
        if module.__spec__ is not None:
            module.__spec__.loader = self.inner
        self.inner.exec_module(module)
        for callback in self.callbacks:
            with contextlib.suppress(Exception):  # a failed wrap must not fail the import
                callback()


class ImportWatch(importlib.abc.MetaPathFinder):
    """Callbacks per module name, each run once, after that module's import."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, list[Callable[[], object]]] = {}

    def when_imported(self, name: str, callback: Callable[[], object]) -> bool:
        """Run `callback` once `name` is imported; False (nothing done) if it is not installed."""
        if name in sys.modules:
            callback()
            return True
        try:
            if importlib.util.find_spec(name.partition(".")[0]) is None:
                return False
        except (ImportError, ValueError):
            return False
        with self._lock:
            self._waiting.setdefault(name, []).append(callback)
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)
        return True

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """The watched module's own spec, with a loader that runs the callbacks after it."""
        if fullname not in self._waiting:
            return None
        with self._lock:
            callbacks = self._waiting.pop(fullname, None)
            if not self._waiting and self in sys.meta_path:
                sys.meta_path.remove(self)
        if callbacks is None:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            spec: ModuleSpec | None = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, callbacks)
                return spec
        return None

    def close(self) -> None:
        """Stop watching: callbacks not run yet never will be."""
        with self._lock:
            self._waiting.clear()
            if self in sys.meta_path:
                sys.meta_path.remove(self)
