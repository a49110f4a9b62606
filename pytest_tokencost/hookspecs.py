"""pytest-tokencost's own hooks, for packages that extend it.

Implement them in a `conftest.py` or a plugin module. Example, a conftest adding an adapter
that the calibration harness can select with ``--adapter=echo``::

    from pytest_tokencost.records import Provenance

    class EchoAdapter:
        name = "echo"
        provenance = Provenance.ESTIMATED

        def dispatcher(self, context):
            return EchoDispatcher()   # has dispatch(request) -> calibrate.dispatch.DispatchResult

    def pytest_tokencost_adapters():
        return {"echo": EchoAdapter}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest


@pytest.hookspec
def pytest_tokencost_adapters() -> Mapping[str, Callable[[], Any]]:  # type: ignore[empty-body]
    """Return calibration adapters by name: each value makes an object with `name`,
    `provenance` (a `Provenance`) and `dispatcher(context) -> Dispatcher`.

    Every implementation is called; later names win over earlier ones and over the built-in
    `stub`, `cursor` and `openai` adapters.
    """


@pytest.hookspec
def pytest_tokencost_summary_sections(  # type: ignore[empty-body]
    report: Any, config: pytest.Config
) -> Sequence[Any]:
    """Return extra sections for the run's Markdown summary (`--cost-report=markdown`, the
    GitHub step summary): a list of `pytest_tokencost.ci.SummarySection(title, lines)`, where
    `lines` are Markdown. Called once, in the process that writes, after the `TokenReport`
    (`report`) is built; every implementation's sections are added in order. Example::

        from pytest_tokencost.ci import SummarySection

        def pytest_tokencost_summary_sections(report, config):
            return [SummarySection("Release", [f"built from `{os.environ['GITHUB_SHA']}`"])]
    """
