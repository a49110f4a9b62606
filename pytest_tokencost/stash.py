"""Keys of the values the plugin keeps on pytest objects, and its per-run plugins' names.

A module of its own so that `plugin.py` and the hook objects it loads on demand
(`item_hooks.py`) both import it, and not each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from .session import RunState
    from .tracker import InMemoryTokenTracker

__all__ = [
    "ATTEMPTS_KEY",
    "DISABLED_KEY",
    "EXTENSIONS_KEY",
    "FINISHING_KEY",
    "SIGTERM_KEY",
    "SIGTERM_SEEN_KEY",
    "STATE_KEY",
    "TRACKER_KEY",
]

#: The run state, on `config.stash`.
STATE_KEY: pytest.StashKey[RunState] = pytest.StashKey()
#: The tracker of the test's current attempt, on `item.stash` (removed when it is exported).
TRACKER_KEY: pytest.StashKey[InMemoryTokenTracker] = pytest.StashKey()
#: Other packages' data for the test's payload, on `item.stash` (see `add_test_extension`).
EXTENSIONS_KEY: pytest.StashKey[dict[str, Any]] = pytest.StashKey()
#: How many attempts of the test exported a tracker, on `item.stash`.
ATTEMPTS_KEY: pytest.StashKey[int] = pytest.StashKey()
#: Set when the session starts finishing (SIGTERM no longer interrupts), on `config.stash`.
FINISHING_KEY: pytest.StashKey[bool] = pytest.StashKey()
#: True on `config.stash` when accounting is off (`--no-cost`, ini `tokencost_disable`).
DISABLED_KEY: pytest.StashKey[bool] = pytest.StashKey()
#: What puts the SIGTERM handler back, on `config.stash`.
SIGTERM_KEY: pytest.StashKey[Callable[[], None] | None] = pytest.StashKey()
#: Set on `config.stash` when a SIGTERM interrupted the run (even where its interrupt was
#: swallowed and pytest-xdist merely stopped: the run is still interrupted).
SIGTERM_SEEN_KEY: pytest.StashKey[bool] = pytest.StashKey()

RUN_PLUGIN_NAME = "tokencost-run"
CONTROLLER_PLUGIN_NAME = "tokencost-controller"
CARRIER_PLUGIN_NAME = "tokencost-carrier"
GATE_PLUGIN_NAME = "tokencost-budget-gate"
CAPTURE_PLUGIN_NAME = "tokencost-capture"
PYTEST_HTML_PLUGIN_NAME = "tokencost-pytest-html"
RESULT_LINE_PLUGIN_NAME = "tokencost-result-line"
PER_RUN_PLUGINS = (
    RUN_PLUGIN_NAME,
    CONTROLLER_PLUGIN_NAME,
    CARRIER_PLUGIN_NAME,
    GATE_PLUGIN_NAME,
    CAPTURE_PLUGIN_NAME,
    PYTEST_HTML_PLUGIN_NAME,
    RESULT_LINE_PLUGIN_NAME,
)
