"""Lazy public names for a package: imported from their home module on first use.

Public: `pytest_tokencost` and the calibration harness both use it (a package whose plugin
loads at every pytest start must not import its heavy modules there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str], public: Iterable[str], namespace: Mapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose name N lives in `.homes[N]`.

    Nothing is cached in the package: the home module stays the single source of each name,
    even when a host (pytester's in-process runs) unloads and re-imports it.
    """
    names = sorted(public)

    def __getattr__(name: str) -> Any:
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f".{module}", package), name)

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
