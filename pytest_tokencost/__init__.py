"""pytest-tokencost: honest token and cost accounting for code that calls LLMs.

The public names are imported on first use, so that loading the pytest plugin (which imports
this package) does not pay for pydantic, tiktoken or genai-prices in a suite that records nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _HOME, __all__, globals())
