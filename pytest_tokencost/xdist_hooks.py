"""The hooks of a pytest-xdist run's controller and workers, loaded only under xdist.

`plugin.py` is compiled at every pytest start (no bytecode is kept on machines that set
PYTHONDONTWRITEBYTECODE): what only an xdist run needs lives here. The controller hands its run
id down and takes the payloads of tests cut short by an interrupt; a worker marks payloads
delivered and, at its end, sends the undelivered ones up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .stash import SIGTERM_SEEN_KEY

if TYPE_CHECKING:
    from collections.abc import Callable

    from .session import RunState

__all__ = ["WORKER_LAST_WORDS_S", "ControllerHooks", "WorkerHooks", "signal_workers"]

#: How long an interrupted xdist controller waits for its workers' last payloads.
WORKER_LAST_WORDS_S = 3.0


def signal_workers(dsession: Any, signum: int) -> None:
    """Pass a SIGTERM the xdist controller alone received on to its local workers at once.

    Otherwise execnet interrupts them only after waiting 5 s, and the controller kills them
    10 s later: on a busy machine a worker's last words (its running test's records) were
    lost in between. Best effort: only local popen workers have a pid here.
    """
    import contextlib
    import os

    group = getattr(getattr(dsession, "nodemanager", None), "group", None)
    for gateway in list(group or ()):
        pid = getattr(getattr(getattr(gateway, "_io", None), "popen", None), "pid", None)
        if isinstance(pid, int) and pid != os.getpid():
            with contextlib.suppress(OSError):  # already gone
                os.kill(pid, signum)


class ControllerHooks:
    """xdist controller only: the run id goes down to workers, interrupted payloads come up."""

    def __init__(self, state: RunState, config: pytest.Config) -> None:
        self.state = state
        self.config = config
        #: Writes the run's outputs (the writer's `finish_before_teardown`), called once the
        #: workers' last words are in after an interrupt.
        self.finish_now: Callable[[pytest.Session, int], None] | None = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Workers share the controller's run id (and so its run folder and budget ledger)."""
        node.workerinput["tokencost_run_id"] = self.state.run_id

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """Take the payloads of tests a worker was running when the run was interrupted."""
        self._take_interrupted(node)

    def _take_interrupted(self, node: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        if self.state.collector is None:
            return
        for data in output.get("tokencost_interrupted", ()):
            self.state.collector.add_data(
                data, "a test on an interrupted xdist worker", resent=True
            )

    @pytest.hookimpl(tryfirst=True)  # before pytest-xdist tears its workers down
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """After an interrupt, give the workers a moment to send their last words, then
        write the run's report at once.

        A Ctrl-C or SIGTERM sent to the whole process group reaches the workers and this
        process at once; pytest-xdist's teardown closes their channels right away, and a
        worker's interrupted payload arriving after that was lost. The teardown itself may
        take 10 s on a loaded machine, longer than a CI runner waits before its SIGKILL:
        the report is written before it (`finish_now`).
        """
        if int(exitstatus) == pytest.ExitCode.INTERRUPTED or self.config.stash.get(
            SIGTERM_SEEN_KEY, False
        ):
            from .stash import FINISHING_KEY

            self.config.stash[FINISHING_KEY] = True  # a SIGTERM now must not cut the drain
            self.drain_interrupted(wait=WORKER_LAST_WORDS_S)
            # Not in a calibration run: its harness adds records and metrics in its own
            # `pytest_sessionfinish`, which runs after this one.
            if self.finish_now is not None and self.state.adapter is None:
                self.finish_now(session, exitstatus)

    def drain_interrupted(self, wait: float = 0.0) -> None:
        """After an interrupt, take the payloads still queued in pytest-xdist's controller.

        A signal stops xdist's event loop wherever it is: reports that workers had already
        sent, and the interrupted payloads of workers that stopped since, may still wait in its
        queue. They are read from it (never processed twice: the collector counts each test
        attempt once). With `wait`, up to that many seconds are spent waiting for the workers
        still active to finish.
        """
        import time
        from queue import Empty

        dsession = self.config.pluginmanager.get_plugin("dsession")
        events = getattr(dsession, "queue", None)
        collector = self.state.collector
        if events is None or collector is None:
            return
        active = len(getattr(dsession, "_active_nodes", ())) if wait else 0
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            try:
                if active > 0 and remaining > 0:
                    name, kwargs = events.get(timeout=remaining)
                else:
                    name, kwargs = events.get_nowait()
            except Empty:
                return
            except (TypeError, ValueError):
                continue
            if name == "testreport":
                report = kwargs.get("rep")
                data = getattr(report, "tokencost", None)
                if data is not None:
                    collector.add_data(data, getattr(report, "nodeid", "a test"))
            elif name in ("workerfinished", "errordown"):
                active -= 1
                if name == "workerfinished":
                    self._take_interrupted(kwargs.get("node"))


class WorkerHooks:
    """xdist worker: payloads ride on test reports; nothing is written or printed here."""

    def __init__(self, state: RunState, config: pytest.Config) -> None:
        self.state = state
        self.config = config

    @pytest.hookimpl(trylast=True)  # after pytest-xdist sent the report to the controller
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A test's payload is on its way: its tracker is done."""
        data: Any = getattr(report, "tokencost", None)
        if data is not None:
            self.state.delivered(data)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Send the controller the records of tests cut short by an interrupt, and again the
        last payloads already sent: an interrupted controller may have stopped reading before
        they arrived, or in the middle of handling one, even when this worker ended normally.
        The controller takes each test attempt once, so the copies cost nothing more."""
        pending = [
            *self.state.recent,
            *self.state.export_live(),
        ]
        workeroutput = getattr(self.config, "workeroutput", None)
        if pending and workeroutput is not None:
            workeroutput["tokencost_interrupted"] = pending
