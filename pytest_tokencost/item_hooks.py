"""Per-test hook objects of the plugin, loaded only when a run needs them.

`plugin.py` is imported at every pytest start; these are not: the record carrier arrives with
the first tracker, the budget gate with a session budget, capture with --cost-capture. This
module never imports `plugin.py` (what it needs from there is handed in), so the two form no
import cycle.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .stash import ATTEMPTS_KEY, CARRIER_PLUGIN_NAME, EXTENSIONS_KEY, TRACKER_KEY

if TYPE_CHECKING:
    from collections.abc import Callable

    from .session import RunState
    from .tracker import InMemoryTokenTracker


def make_tracker(item: pytest.Item, state: RunState) -> InMemoryTokenTracker:
    """A new tracker for `item`'s current attempt, under its `token_budget` marker."""
    marker = item.get_closest_marker("token_budget")
    limits = None
    if marker is not None:
        from .budget import limits_from_kwargs

        where = f"@pytest.mark.token_budget on {item.nodeid}"
        if marker.args:
            pytest.fail(f"UsageError: {where}: takes keyword arguments only", pytrace=False)
        try:
            kwargs = dict(marker.kwargs)
            models = kwargs.pop("models", None)
            limits = limits_from_kwargs(kwargs, where)
            state.check_usd_budget_models(limits, models, where)
        except Exception as exc:  # a bad marker: an error of this test, in one line
            pytest.fail(f"{type(exc).__name__}: {exc}", pytrace=False)
    tracker = state.new_tracker(item.nodeid, limits, warn_budget, attempt=_attempt(item))
    item.stash[TRACKER_KEY] = tracker
    config = item.config
    if not config.pluginmanager.has_plugin(CARRIER_PLUGIN_NAME):
        # Registered on first use, so a suite that never records pays no per-test hook.
        config.pluginmanager.register(RecordCarrier(state), CARRIER_PLUGIN_NAME)
    return tracker


def _attempt(item: pytest.Item) -> int:
    """Which run of the test this is: pytest-rerunfailures counts them; else our own count."""
    count = getattr(item, "execution_count", None)
    if isinstance(count, int) and count >= 1:
        return count
    return item.stash.get(ATTEMPTS_KEY, 0) + 1


def warn_budget(message: str) -> None:
    """Emit a budget warning as a `TokenBudgetWarning` at the caller's line."""
    import inspect
    import warnings

    from .pytest_warnings import TokenBudgetWarning

    # Point at the caller's line (the test's `record(...)`), above every frame of this package.
    here = str(Path(__file__).parent)
    level, frame = 1, inspect.currentframe()
    while frame is not None and frame.f_code.co_filename.startswith(here):
        frame = frame.f_back
        level += 1
    del frame
    warnings.warn(TokenBudgetWarning(message), stacklevel=level)


GATE_REASON = "not run: the session token budget is exhausted"
_GATED_KEY: pytest.StashKey[bool] = pytest.StashKey()


class SessionBudgetGate:
    """With a session budget: tests that have not started when it runs out are not run."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Skip a test (reported as not run) once the session budget is exhausted.

        A rerun (pytest-rerunfailures) is not skipped but fails its set-up: its earlier
        attempt failed, perhaps by exhausting the budget, and a skip would be the test's final
        outcome, hiding that failure.
        """
        ledger = self.state.ledger
        if ledger is not None and ledger.exhausted():
            if _attempt(item) > 1:
                pytest.fail(
                    "not rerun: the session token budget is exhausted "
                    "(the test's earlier attempt failed)",
                    pytrace=False,
                )
            item.stash[_GATED_KEY] = True
            pytest.skip(GATE_REASON)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Report a test the gate skipped at the test's own line, not at this plugin's."""
        report = yield
        if call.when == "setup" and report.skipped and item.stash.get(_GATED_KEY, False):
            import os

            path, line = item.reportinfo()[:2]
            report.longrepr = (os.fspath(path), (line or 0) + 1, f"Skipped: {GATE_REASON}")
        return report


class CaptureHooks:
    """--cost-capture: SDK calls made while a test runs are recorded on that test's tracker."""

    def __init__(self, tracker_for_item: Callable[[pytest.Item], InMemoryTokenTracker]) -> None:
        """`tracker_for_item` gives (making it on first use) the running test's tracker."""
        from .capture_all import Captures

        self.item: pytest.Item | None = None
        self.capture = Captures(lambda: tracker_for_item(self.item) if self.item else None)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Wrap httpx2, httpx and botocore, each now or when the suite imports it."""
        if not self.capture.install():
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(
                    "tokencost: --cost-capture needs httpx2 or httpx (the transports of the "
                    "LLM SDKs) or botocore (Bedrock); nothing is captured",
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


_CROSSED_BY_CALL = pytest.StashKey[bool]()


def _fail_over_budget(report: pytest.TestReport, tracker: InMemoryTokenTracker | None) -> None:
    """Turn a passed report into a failure when the tracker's records crossed a budget (or a
    captured call's budget warning was made an error)."""
    failure = tracker.failure if tracker is not None else None
    if failure is not None:
        report.outcome = "failed"
        report.longrepr = f"{type(failure).__module__}.{type(failure).__name__}: {failure}"


class RecordCarrier:
    """Fails tests whose budgets were crossed out of sight, and puts each attempt's payload on
    its teardown report, which carries it through xdist."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Attach the attempt's payload to its teardown report (with --junitxml, its totals as
        properties); the next attempt starts anew. With -v, the call report carries the
        tokens and cost so far for the result line.

        A call that passed although its records crossed a budget fails here, in one line
        naming the budget: its code caught the exception (an agent loop that swallows errors)
        or never saw it (a call --cost-capture recorded: raising inside the SDK would make it
        retry). Re-raising the kept exception would show the plugin's frames, not the test's.
        """
        report = yield
        tracker = item.stash.get(TRACKER_KEY, None)
        if call.when == "call":
            item.stash[_CROSSED_BY_CALL] = tracker is not None and tracker.failure is not None
            if report.passed:
                _fail_over_budget(report, tracker)
            if tracker is not None and len(tracker) and item.config.get_verbosity() > 0:
                report.tokencost_line = _result_note(tracker)  # type: ignore[attr-defined]
        if call.when == "teardown":
            if (
                tracker is not None
                and not item.stash.get(_CROSSED_BY_CALL, False)
                and report.passed
            ):
                # Crossed after the call: a fixture's clean-up, a stream capture flushed.
                _fail_over_budget(report, tracker)
            if tracker is not None:
                del item.stash[TRACKER_KEY]
                item.stash[ATTEMPTS_KEY] = tracker.attempt
                extensions = item.stash.get(EXTENSIONS_KEY, None)
                if extensions is not None:
                    del item.stash[EXTENSIONS_KEY]
                try:
                    data = self.state.export_data(tracker, extensions=extensions)
                    if item.config.option.xmlpath:
                        from .junit import usage_properties

                        report.user_properties.extend(usage_properties(tracker.records()))
                except Exception as exc:  # a broken export must not break the session
                    data = {
                        "test_id": item.nodeid,
                        "attempt": tracker.attempt,
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                report.tokencost = data  # type: ignore[attr-defined]
        return report


def _result_note(tracker: InMemoryTokenTracker) -> str:
    """``1,234 tokens, $0.0123`` for a test's result line."""
    from .render import format_usd

    try:
        totals = tracker.summary().totals
    except Exception:  # the line is a courtesy: the export reports any real problem
        return f"{len(tracker)} record(s)"
    cost = format_usd(totals.cost_micro_usd)
    if totals.cost_micro_usd is not None and totals.live_unpriced_records:
        cost += " + not recorded"
    return f"{totals.usage.total:,} tokens, {cost}"
