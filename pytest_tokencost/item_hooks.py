"""Per-test hook objects of the plugin, loaded only when a run needs them.

`plugin.py` is imported at every pytest start; these are not: the record carrier arrives with
the first `token_tracker`, the budget gate with a session budget, capture with --cost-capture.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from .plugin import _CARRIER_PLUGIN_NAME, STATE_KEY, TRACKER_KEY

if TYPE_CHECKING:
    from .session import RunState
    from .tracker import InMemoryTokenTracker


def tracker_for_item(item: pytest.Item) -> InMemoryTokenTracker:
    """The tracker of `item`, made on first use; its records reach the run's report.

    The `token_tracker` fixture uses it, and so do items that are not Python tests (the
    calibration harness's cases).
    """
    tracker = item.stash.get(TRACKER_KEY, None)
    if tracker is None:
        config = item.config
        state = config.stash[STATE_KEY]
        marker = item.get_closest_marker("token_budget")
        limits = None
        if marker is not None:
            from .budget import limits_from_kwargs

            where = f"@pytest.mark.token_budget on {item.nodeid}"
            if marker.args:
                raise pytest.UsageError(f"{where}: takes keyword arguments only")
            kwargs = dict(marker.kwargs)
            models = kwargs.pop("models", None)
            limits = limits_from_kwargs(kwargs, where)
            state.check_usd_budget_models(limits, models, where)
        tracker = item.stash[TRACKER_KEY] = state.new_tracker(item.nodeid, limits, warn_budget)
        if not config.pluginmanager.has_plugin(_CARRIER_PLUGIN_NAME):
            # Registered on first use, so a suite that never records pays no per-test hook.
            config.pluginmanager.register(RecordCarrier(), _CARRIER_PLUGIN_NAME)
    return tracker


def warn_budget(message: str) -> None:
    import warnings

    from .pytest_warnings import TokenBudgetWarning

    warnings.warn(TokenBudgetWarning(message), stacklevel=4)


class SessionBudgetGate:
    """With a session budget: tests that have not started when it runs out are not run."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Skip a test (reported as not run) once the session budget is exhausted."""
        assert self.state.ledger is not None
        if self.state.ledger.exhausted():
            pytest.skip("not run: the session token budget is exhausted")


class CaptureHooks:
    """--cost-capture: SDK calls made while a test runs are recorded on that test's tracker."""

    def __init__(self) -> None:
        from .capture import Capture

        self.item: pytest.Item | None = None
        self.capture = Capture(lambda: tracker_for_item(self.item) if self.item else None)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Wrap httpx2's clients (after collection imported the user's SDKs, or not)."""
        if not self.capture.install():
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(
                    "tokencost: --cost-capture needs httpx2 (the transport of "
                    "the openai and anthropic SDKs); nothing is captured",
                    yellow=True,
                )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        """Point capture at the running test."""
        self.item = item
        try:
            return (yield)
        finally:
            self.item = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        """Record streams the test abandoned before its records are exported."""
        try:
            return (yield)
        finally:
            tracker = item.stash.get(TRACKER_KEY, None)
            if tracker is not None:
                self.capture.flush(tracker)


class RecordCarrier:
    """Puts each test's records on its teardown report, which carries them through xdist."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Attach the test's exported records to its teardown report."""
        report = yield
        if call.when == "teardown":
            tracker = item.stash.get(TRACKER_KEY, None)
            if tracker is not None:
                from .session import export_tracker

                try:
                    report.tokencost = export_tracker(tracker)  # type: ignore[attr-defined]
                except Exception as exc:  # a broken record must not break the session
                    report.tokencost = {"error": f"{type(exc).__name__}: {exc}"}  # type: ignore[attr-defined]
        return report
