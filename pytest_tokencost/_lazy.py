"""The old home of `lazy_exports`, kept for modules that import it from here (see `lazy`)."""

from __future__ import annotations

from .lazy import lazy_exports

__all__ = ["lazy_exports"]
