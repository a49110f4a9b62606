"""The calibration harness's own hooks, for packages that add adapters.

Added by `calibrate.plugin` (`pytest_addhooks`), so they exist whenever the harness is
installed and not disabled (`-p no:tokencost-calibrate`). Implement them in a `conftest.py` or a
plugin module. Example, a conftest adding an adapter that ``--adapter=echo`` selects::

    from pytest_tokencost.records import Provenance

    class EchoAdapter:
        name = "echo"
        provenance = Provenance.ESTIMATED

        def dispatcher(self, context):
            return EchoDispatcher()   # has dispatch(request) -> calibrate.dispatch.DispatchResult

    def pytest_tokencost_adapters():
        return {"echo": EchoAdapter}

A conftest that must also work where the harness is disabled or not installed marks its
implementation ``@pytest.hookimpl(optionalhook=True)`` (pytest refuses unknown ``pytest_`` hooks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest


@pytest.hookspec
def pytest_tokencost_adapters() -> Mapping[str, Callable[[], Any]]:  # type: ignore[empty-body]
    """Return calibration adapters by name: each value makes an object with `name`,
    `provenance` (a `Provenance`) and `dispatcher(context) -> Dispatcher`.

    Every implementation is called; later names win over earlier ones and over the built-in
    `stub`, `cursor` and `openai` adapters.
    """
