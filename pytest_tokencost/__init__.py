"""pytest-tokencost: honest token and cost accounting for code that calls LLMs.

The public names are imported on first use, so that loading the pytest plugin (which imports
this package) does not pay for pydantic, tiktoken or genai-prices in a suite that records nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .counting import count_messages, count_tokens
    from .records import PriceSource, Provenance, TokenRecord, Usage
    from .summary import TokenSummary, TokenTotals
    from .tracker import InMemoryTokenTracker, TokenTracker

__all__ = [
    "InMemoryTokenTracker",
    "PriceSource",
    "Provenance",
    "TokenRecord",
    "TokenSummary",
    "TokenTotals",
    "TokenTracker",
    "Usage",
    "count_messages",
    "count_tokens",
]

_HOME = {
    "InMemoryTokenTracker": "tracker",
    "TokenTracker": "tracker",
    "PriceSource": "records",
    "Provenance": "records",
    "TokenRecord": "records",
    "Usage": "records",
    "TokenSummary": "summary",
    "TokenTotals": "summary",
    "count_messages": "counting",
    "count_tokens": "counting",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Not cached in globals(): the home module stays the single source of each name, even when
    # a host (pytester's in-process runs) unloads and re-imports it.
    return getattr(import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
