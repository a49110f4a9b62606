"""The pytest plugin: wires pytest's hooks to the pytest-free core, and nothing else.

Loaded at every pytest start-up through the `pytest11` entry point, so it imports only light
modules; the accounting core (pydantic, tiktoken, genai-prices) is imported when a test first
asks for `token_tracker`, and a test that records nothing costs one stash lookup.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from .constants import DEFAULT_WARN_AT
from .settings import (
    DEFAULT_DIR,
    DEFAULT_RATE_TEXT,
    ReportTarget,
    Settings,
    disabled,
    parse_fraction,
    parse_positive,
    parse_rate,
    parse_report_target,
    parse_top,
)
from .stash import (
    CAPTURE_PLUGIN_NAME,
    CARRIER_PLUGIN_NAME,
    CONTROLLER_PLUGIN_NAME,
    DISABLED_KEY,
    EXTENSIONS_KEY,
    FINISHING_KEY,
    GATE_PLUGIN_NAME,
    PER_RUN_PLUGINS,
    PYTEST_HTML_PLUGIN_NAME,
    RESULT_LINE_PLUGIN_NAME,
    RUN_PLUGIN_NAME,
    SIGTERM_KEY,
    SIGTERM_SEEN_KEY,
    STATE_KEY,
    TRACKER_KEY,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from pathlib import Path

    from .run_history import RunHistory
    from .session import Role, RunState
    from .tracker import InMemoryTokenTracker


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Add pytest-tokencost's own hooks (see `pytest_tokencost.hookspecs`)."""
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """An option of the calibration harness when the harness is not there: say which
    distribution to install (or which -p blocked it), not argparse's "unrecognized arguments".

    Runs once entry-point plugins are loaded and before the command line is checked."""
    from .addons import HARNESS_PLUGIN, harness_option_in, not_installed

    option = harness_option_in(args)
    if option is None or early_config.pluginmanager.has_plugin(HARNESS_PLUGIN):
        return
    if early_config.pluginmanager.is_blocked(HARNESS_PLUGIN):
        raise pytest.UsageError(
            f"{option} is an option of the calibration harness, which -p no:{HARNESS_PLUGIN} "
            f"disabled; drop -p no:{HARNESS_PLUGIN}, or drop {option}"
        )
    raise pytest.UsageError(not_installed(option))


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the `--cost-*` options and `tokencost_*` ini keys."""
    group = parser.getgroup("tokencost", "token and cost accounting (pytest-tokencost)")
    group.addoption(
        "--cost-report",
        action="append",
        nargs="?",
        const=ReportTarget("term"),
        type=parse_report_target,
        dest="tokencost_report",
        metavar="TYPE",
        help="Report tokens and cost: 'term' prints the Token & Cost section (the default when "
        "no TYPE is given), 'term:brief' its totals only, 'json:PATH' writes a copy of "
        "token-report.json to PATH, 'markdown[:PATH]' a Markdown summary (default "
        "token-report.md in the output folder), 'html[:PATH]' the HTML page (default "
        "token-report.html). Repeatable. Default: %(default)r",
    )
    group.addoption(
        "--cost-top",
        dest="tokencost_top",
        metavar="N",
        type=parse_top,
        default=None,
        help="How many tests the 'Top tests by cost' tables show (0: none). Default: 10",
    )
    group.addoption(
        "--no-cost",
        action="store_true",
        dest="tokencost_disable",
        default=False,
        help="Turn token accounting off: token_tracker and the token_budget marker still work, "
        "as no-ops; nothing is written or printed. Default: %(default)r",
    )
    group.addoption(
        "--cost-dir",
        dest="tokencost_dir",
        metavar="DIR",
        default=None,
        help=f"Output folder, created git-ignored. Default: {DEFAULT_DIR!r} under the rootdir",
    )
    group.addoption(
        "--cost-prices",
        dest="tokencost_prices",
        metavar="PATH",
        default=None,
        help="TOML file of per-model prices (USD per million tokens) that win over "
        "genai-prices. Default: %(default)r",
    )
    group.addoption(
        "--cost-strict",
        action="store_true",
        dest="tokencost_strict",
        default=False,
        help="Fail the run when any record has no known price. Default: %(default)r",
    )
    group.addoption(
        "--cost-default-rate",
        dest="tokencost_default_rate",
        metavar="IN,OUT",
        type=parse_rate,
        default=None,
        help=f"USD per million input,output tokens for records with no model. "
        f"Default: {DEFAULT_RATE_TEXT!r}",
    )
    group.addoption(
        "--cost-default-rate-unknown",
        action="store_true",
        dest="tokencost_default_rate_unknown",
        default=False,
        help="Also price models that no price source knows at the default rate (labelled) "
        "instead of leaving them not recorded. Default: %(default)r",
    )
    group.addoption(
        "--cost-budget-usd",
        dest="tokencost_budget_usd",
        metavar="USD",
        type=parse_positive,
        default=None,
        help="Session budget in dollars, shared by xdist workers: warn at --cost-warn-at, stop "
        "the run at 100%%. Default: %(default)r",
    )
    group.addoption(
        "--cost-budget-tokens",
        dest="tokencost_budget_tokens",
        metavar="N",
        type=parse_positive,
        default=None,
        help="Session budget in tokens (input + output). Default: %(default)r",
    )
    group.addoption(
        "--cost-warn-at",
        dest="tokencost_warn_at",
        metavar="FRACTION",
        type=parse_fraction,
        default=None,
        help=f"Share of a budget at which to warn. Default: {DEFAULT_WARN_AT}",
    )
    group.addoption(
        "--cost-capture",
        action="store_true",
        dest="tokencost_capture",
        default=False,
        help="Record every LLM SDK call made during a test (through httpx2, httpx, or "
        "botocore for Bedrock), with no change to the tests. Default: %(default)r",
    )
    _add_history_options(group, parser)
    parser.addini(
        "tokencost_capture", "Capture SDK calls as with --cost-capture.", type="bool", default=False
    )
    parser.addini("tokencost_budget_usd", "Session budget in dollars.", default="")
    parser.addini("tokencost_budget_tokens", "Session budget in tokens.", default="")
    parser.addini(
        "tokencost_warn_at", f"Share of a budget at which to warn ({DEFAULT_WARN_AT}).", default=""
    )
    parser.addini("tokencost_dir", "Output folder (relative to the rootdir).", default="")
    parser.addini("tokencost_prices", "Price override file (relative to the rootdir).", default="")
    parser.addini(
        "tokencost_strict", "Fail the run when anything is unpriced.", type="bool", default=False
    )
    parser.addini(
        "tokencost_default_rate", "Default rate IN,OUT in USD per million tokens.", default=""
    )
    parser.addini(
        "tokencost_default_rate_unknown_models",
        "Price unknown models at the default rate.",
        type="bool",
        default=False,
    )
    parser.addini(
        "tokencost_disable",
        "Turn token accounting off as with --no-cost.",
        type="bool",
        default=False,
    )
    parser.addini(
        "tokencost_github_summary",
        "auto|true|false: append a Markdown summary to $GITHUB_STEP_SUMMARY when it is set "
        "(auto: when tokens were recorded or a report was asked for; true: every run).",
        default="auto",
    )
    parser.addini(
        "tokencost_report",
        "Print the Token & Cost section whenever tokens were recorded, without --cost-report.",
        type="bool",
        default=False,
    )


def _add_history_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """The run history and the cost gates (see `run_history`)."""
    from .gate_options import AUTO, parse_compare_fail, parse_fail_over, parse_keep

    group.addoption(
        "--cost-no-history",
        action="store_true",
        dest="tokencost_no_history",
        default=False,
        help="Do not add this run to history.sqlite in the output folder. Default: %(default)r",
    )
    group.addoption(
        "--cost-history-keep",
        dest="tokencost_history_keep",
        metavar="N",
        type=parse_keep,
        default=None,
        help="Keep only the newest N runs in the history. Default: keep all",
    )
    group.addoption(
        "--cost-compare",
        dest="tokencost_compare",
        metavar="REF",
        nargs="?",
        const=AUTO,
        default=None,
        help="Print a 'Token & Cost: compared with REF' section. REF: a run id, -N (-1 is the "
        "latest earlier run), a token-report.json or an output folder; without REF the latest "
        "earlier run on this git branch, else the latest. Default: %(default)r",
    )
    group.addoption(
        "--cost-compare-fail",
        action="append",
        dest="tokencost_compare_fail",
        metavar="METRIC:LIMIT",
        type=parse_compare_fail,
        default=None,
        help="Fail the run (after every test ran) when METRIC grew past LIMIT against the "
        "baseline of --cost-compare: METRIC tokens, input, output, usd (run totals), "
        "test-tokens, test-usd (any one test); LIMIT 10%% or an amount (tokens:5000, "
        "usd:0.05). Repeatable. Default: %(default)r",
    )
    group.addoption(
        "--cost-fail-over",
        action="append",
        dest="tokencost_fail_over",
        metavar="METRIC:AMOUNT",
        type=parse_fail_over,
        default=None,
        help="Fail the run (after every test ran) when its total is over AMOUNT: tokens:N or "
        "usd:X. Repeatable. Default: %(default)r",
    )
    parser.addini(
        "tokencost_history",
        "Add every run to history.sqlite in the output folder.",
        type="bool",
        default=True,
    )
    parser.addini(
        "tokencost_history_keep", "Keep only the newest N runs in the history.", default=""
    )
    parser.addini(
        "tokencost_compare_fail",
        "Cost gates METRIC:LIMIT, as --cost-compare-fail (one or more).",
        type="args",
        default=[],
    )
    parser.addini(
        "tokencost_fail_over",
        "Run total limits tokens:N / usd:X, as --cost-fail-over (one or more).",
        type="args",
        default=[],
    )


def _history_of(config: pytest.Config, state: RunState) -> RunHistory | None:
    """The run history and gates of the writing process (none for --collect-only)."""
    from .gate_options import HistorySettings
    from .run_history import RunHistory

    if config.option.collectonly:
        return None
    try:
        settings = HistorySettings.from_config(config)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if settings.needs_baseline or settings.fail_over:
        state.report_required = True  # the verdicts go in the report
    history = RunHistory(settings, config.rootpath)
    return history if history.active else None


def _role_of(config: pytest.Config) -> Role:
    """Single process, xdist controller or xdist worker: decided once, here."""
    from .session import Role

    if hasattr(config, "workerinput"):
        return Role.WORKER
    # pytest-xdist runs its controller exactly when --dist is not "no" (-n N sets it).
    if getattr(config.option, "dist", "no") != "no" and not config.option.collectonly:
        return Role.CONTROLLER
    return Role.SINGLE


def _output_dir_source(config: pytest.Config) -> str:
    if config.getoption("tokencost_dir"):
        return "--cost-dir"
    if config.getini("tokencost_dir"):
        return "ini tokencost_dir"
    return "the output folder"


def pytest_configure(config: pytest.Config) -> None:
    """Resolve settings, choose this process's role, create the run state and its hooks."""
    config.addinivalue_line(
        "markers",
        "token_budget(max_tokens=None, max_input=None, max_output=None, max_usd=None, "
        f"models=None): this test's token/USD budget; warns at {DEFAULT_WARN_AT:.0%}, fails the "
        "test at 100% (pytest-tokencost)",
    )
    try:
        if disabled(config):
            config.stash[DISABLED_KEY] = True  # token_tracker hands out no-op trackers
            return
        settings = Settings.from_config(config)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    state = _new_run_state(config, settings)
    config.stash[STATE_KEY] = state
    if settings.github_summary == "true" and os.environ.get("GITHUB_STEP_SUMMARY"):
        state.report_required = True  # a summary on every run, "no tokens recorded" too
    _register_role_hooks(config, state)
    _register_feature_hooks(config, state)
    config.stash[SIGTERM_KEY] = _interrupt_on_sigterm(config)


def _new_run_state(config: pytest.Config, settings: Settings) -> RunState:
    """The run state of this process, its output folder, price file and budget ledger checked
    (a problem with any is a usage error, not 100 failures)."""
    from .errors import PriceFileError, TokenCostError
    from .runfiles import OutputDirError, check_output_dir
    from .session import Role, RunState

    role = _role_of(config)
    if role is not Role.WORKER:
        try:
            check_output_dir(settings.output_dir, _output_dir_source(config))
        except OutputDirError as exc:
            raise pytest.UsageError(str(exc)) from None
    numprocesses = getattr(config.option, "numprocesses", None)
    state = RunState(
        settings,
        role=role,
        argv=[str(arg) for arg in config.invocation_params.args],
        pytest_version=pytest.__version__,
        workers=numprocesses if isinstance(numprocesses, int) else 0,
        run_id=getattr(config, "workerinput", {}).get("tokencost_run_id"),
    )
    if settings.prices_file is not None:
        try:
            state.pricer()  # read the price file now
        except PriceFileError as exc:
            raise pytest.UsageError(str(exc)) from None
    try:
        state.open_ledger()
    except TokenCostError as exc:
        raise pytest.UsageError(str(exc)) from None
    return state


def _register_role_hooks(config: pytest.Config, state: RunState) -> None:
    """The hooks of this process's role: worker, or writer (and xdist controller)."""
    from .session import Role

    if state.role is Role.WORKER:
        from .xdist_hooks import WorkerHooks

        config.pluginmanager.register(WorkerHooks(state, config), RUN_PLUGIN_NAME)
        return
    writer = _WriterHooks(state, config)
    writer.history = _history_of(config, state)
    config.pluginmanager.register(writer, RUN_PLUGIN_NAME)
    if config.get_verbosity() > 0:
        config.pluginmanager.register(_ResultLineHooks(writer), RESULT_LINE_PLUGIN_NAME)
    if state.role is Role.CONTROLLER:
        from .xdist_hooks import ControllerHooks

        controller = ControllerHooks(state, config)
        writer.before_finish = controller.drain_interrupted
        controller.finish_now = writer.finish_before_teardown
        config.pluginmanager.register(controller, CONTROLLER_PLUGIN_NAME)


def _register_feature_hooks(config: pytest.Config, state: RunState) -> None:
    """The hooks of the features this run uses: the session budget gate, pytest-html's
    columns, --cost-capture."""
    from .session import Role

    if state.ledger is not None:
        from .item_hooks import SessionBudgetGate

        config.pluginmanager.register(SessionBudgetGate(state), GATE_PLUGIN_NAME)
    if (
        state.role is not Role.WORKER
        and config.pluginmanager.hasplugin("html")
        and config.getoption("htmlpath", None)
    ):
        from .html.pytesthtml import PytestHtmlColumns  # tokens and cost in pytest-html's table

        config.pluginmanager.register(PytestHtmlColumns(), PYTEST_HTML_PLUGIN_NAME)
    if state.settings.capture:
        from .item_hooks import CaptureHooks, RecordCarrier

        config.pluginmanager.register(CaptureHooks(tracker_for_item), CAPTURE_PLUGIN_NAME)
        # Capture makes a test's tracker during its call, too late for hooks registered then
        # to see that call: the carrier, which fails a test whose captured calls crossed a
        # budget, must be in place before the first test runs.
        config.pluginmanager.register(RecordCarrier(state), CARRIER_PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the per-run hooks (pytester runs many sessions in one process)."""
    for name in PER_RUN_PLUGINS:
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            if name == CAPTURE_PLUGIN_NAME:
                plugin.capture.uninstall()
            config.pluginmanager.unregister(plugin)
    if STATE_KEY in config.stash:
        del config.stash[STATE_KEY]
    restore = config.stash.get(SIGTERM_KEY, None)
    if restore is not None:
        restore()


def _interrupt_on_sigterm(config: pytest.Config) -> Callable[[], None] | None:
    """Make SIGTERM (what CI runners send on cancel or timeout) end the run like Ctrl-C.

    pytest then finishes the session, and the report is written with status `interrupted`.
    Only when nobody else handles SIGTERM; returns what puts the old handler back.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None

    # An xdist worker may get the same SIGTERM twice (sent to the process group, and passed
    # on by its controller): it ignores repeats, and its controller kills it if it hangs.
    worker = hasattr(config, "workerinput")

    def on_sigterm(signum: int, frame: object) -> None:
        if not worker:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        if config.stash.get(FINISHING_KEY, False) or (
            worker and config.stash.get(SIGTERM_SEEN_KEY, False)
        ):
            return  # already finishing: let the reports be written
        config.stash[SIGTERM_SEEN_KEY] = True
        # Should the interrupt be swallowed where it lands, pytest-xdist's controller still
        # stops: it checks this between events.
        dsession = config.pluginmanager.get_plugin("dsession")
        if dsession is not None:
            dsession.shouldstop = "interrupted by SIGTERM"
            from .xdist_hooks import signal_workers

            signal_workers(dsession, signum)
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    return restore


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """From here on a SIGTERM no longer interrupts: the session is writing its reports (an
    interrupt raised inside pytest-xdist's teardown would cut them off)."""
    session.config.stash[FINISHING_KEY] = True


def run_state(config: pytest.Config) -> RunState:
    """The tokencost run state of a pytest run (for the calibration harness and plugins).

    Raises `pytest.UsageError` when the tokencost plugin is not active (`-p no:tokencost`).
    """
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        why = "--no-cost" if config.stash.get(DISABLED_KEY, False) else "-p no:tokencost"
        raise pytest.UsageError(f"pytest-tokencost's accounting is off ({why}); drop that option")
    return state


#: The test this process runs now (pytest runs one at a time per process).
_running_item: pytest.Item | None = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Note the test that runs now, for `token_tracker`: a fixture that asked for `request`
    instead would cost every test pytest's making of a `request` fixture definition (8.5 µs
    measured alone, about a tenth of a recording test's plugin work). An inner session
    (pytester's inline runs) restores the outer test when it ends."""
    global _running_item
    outer, _running_item = _running_item, item
    try:
        return (yield)
    finally:
        _running_item = outer


@pytest.fixture
def token_tracker() -> InMemoryTokenTracker:
    """This test's token tracker: `record(...)`, `observe(response)`, `step(name)`, `case(id)`.

    Its records are priced, attributed to this test and added to the run's Token & Cost report.
    """
    item = _running_item
    if item is None:  # pragma: no cover - pytest asks for fixtures while a test runs
        raise RuntimeError("token_tracker is available to tests only")
    return tracker_for_item(item)


def tracker_for_item(item: pytest.Item) -> InMemoryTokenTracker:
    """The tracker of `item`'s current attempt, made on first use; its records reach the
    run's report when the attempt ends.

    The `token_tracker` fixture uses it, and so do items that are not Python tests (the
    calibration harness's cases).
    """
    tracker = item.stash.get(TRACKER_KEY, None)
    if tracker is not None:
        return tracker
    if item.config.stash.get(DISABLED_KEY, False):
        from .nulltracker import NullTokenTracker

        return NullTokenTracker(item.nodeid)  # type: ignore[return-value]
    from .item_hooks import make_tracker

    return make_tracker(item, run_state(item.config))


def accounting_disabled(config: pytest.Config) -> bool:
    """True when accounting is off for this run (`--no-cost`, ini `tokencost_disable`):
    `token_tracker` hands out no-op trackers and there is no run state."""
    return config.stash.get(DISABLED_KEY, False)


def add_test_extension(item: pytest.Item, name: str, data: Any) -> None:
    """Send `data` (plain JSON types) with `item`'s payload to the process that collects.

    Read it back there from `report.tokencost["extensions"][name]` in
    `pytest_runtest_logreport` (teardown reports). The calibration harness sends each case's
    result this way.
    """
    item.stash.setdefault(EXTENSIONS_KEY, {})[name] = data


class _WriterHooks:
    """Hooks of the process that collects and writes: the only one, or the xdist controller."""

    def __init__(self, state: RunState, config: pytest.Config) -> None:
        self.state = state
        self.config = config
        self.errors: list[str] = []
        #: HTML pages written at the end of the run (--cost-report=html).
        self.pages: list[Path] = []
        #: True while result lines are printed (-v adds tokens to them), not in the summaries.
        self.results_running = True
        #: (what, path) of the files written at the end, printed with the section.
        self.written: list[tuple[str, Path]] = []
        #: Called before the report is built when the run was interrupted (xdist controller).
        self.before_finish: Callable[[], None] | None = None
        #: The run history and cost gates (None: --cost-no-history and no gate).
        self.history: RunHistory | None = None
        #: What was collected when an interrupted xdist controller wrote its outputs before
        #: pytest-xdist's teardown (`finish_before_teardown`), and the report's exit status.
        self._early: tuple[tuple[int, ...], int] | None = None

    def pytest_report_header(self) -> list[str]:
        """Where prices come from; where the output goes, with budgets and strictness."""
        from importlib.metadata import version

        settings = self.state.settings
        budgets = []
        if settings.budget_usd is not None:
            budgets.append(f"${settings.budget_usd:g}")
        if settings.budget_tokens is not None:
            budgets.append(f"{settings.budget_tokens:,} tokens")
        prices = [
            f"prices genai-prices {version('genai-prices')}",
            f"default rate {settings.default_rate} USD/MTok",
        ]
        if settings.prices_file is not None:
            prices.append(f"overrides {settings.prices_file}")
        parts = [f"output {settings.output_dir}"]
        if budgets:
            parts.append(f"session budget {' and '.join(budgets)} (warn at {settings.warn_at:.0%})")
        if settings.strict:
            parts.append("strict")
        return ["tokencost: " + ", ".join(prices), "tokencost: " + ", ".join(parts)]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect a test's payload as its report arrives (replayed from workers under xdist)."""
        data: Any = getattr(report, "tokencost", None)
        if data is not None and self.state.collector is not None:
            self.state.collector.add_data(data, report.nodeid)
            self.state.delivered(data)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """Fail the run when the session budget ran out, (--cost-strict) went unpriced, or the
        run's records could not be written."""
        result = yield
        for message in self._run_errors():
            self._error(message)
            session.testsfailed += 1
        return result

    def _run_errors(self) -> list[str]:
        state = self.state
        errors = []
        if state.ledger is not None and state.ledger.exhausted():
            errors.append(
                "session token budget exhausted: "
                + "; ".join(state.session_budget_lines())
                + "; tests not yet started were not run"
            )
        if state.settings.strict and state.has_unpriced():
            errors.append(
                "--cost-strict: no price is known for "
                f"{', '.join(state.unpriced_models())}; add them to a --cost-prices file"
            )
        if state.collector is not None:
            errors.extend(state.collector.lost)
        errors.extend(state.write_problems())
        return errors

    def _error(self, message: str) -> None:
        """A run-level error: in the report's warnings, and printed at the end of the run."""
        if message not in self.errors:
            self.errors.append(message)
            self.state.warnings.append(message)

    # before pytest's junitxml writes its file (the report is built later, trylast)
    @pytest.hookimpl(tryfirst=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_junit(self, session: pytest.Session) -> None:
        """With --junitxml: the run's totals as properties of the test suite."""
        self.results_running = False  # the summaries that follow show the plain status word
        if self.config.option.xmlpath and self.state.collector is not None:
            from .junit import add_suite_properties

            add_suite_properties(self.config, self.state.records)

    @pytest.hookimpl(trylast=True)  # after pytest-xdist has stopped its workers
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Add the records of tests cut short by an interrupt, publish the report, then write
        the Markdown targets and the GitHub step summary (unless an interrupted xdist
        controller did it before the teardown: then only what arrived since is added)."""
        if self._early is not None:
            self._after_early_finish()
            return
        self._finish(session, exitstatus)

    def finish_before_teardown(self, session: pytest.Session, exitstatus: int) -> None:
        """An interrupted xdist controller, its workers' last words in (or the wait over):
        write the report, history and summaries now, before pytest-xdist's teardown.

        That teardown waits up to 10 s for the workers' processes (execnet kills them after
        that): on a loaded machine a CI cancel's SIGKILL, 10 s after its SIGINT, came first
        and no report was written. A SIGTERM from here on no longer interrupts the writing.
        """
        from .stash import FINISHING_KEY

        self.config.stash[FINISHING_KEY] = True
        self._early = ((), int(exitstatus))  # set first: the session's end never writes all twice
        status = self._finish(session, exitstatus)
        self._early = (self._collected(), status)

    def _collected(self) -> tuple[int, ...]:
        """A fingerprint of what the collector holds: it changes when anything is taken."""
        collector = self.state.collector
        if collector is None:
            return ()
        return (
            len(collector.records),
            len(collector.runs),
            len(collector.budgets),
            len(collector.warnings),
            len(collector.interrupted_tests),
            collector.duplicates,
        )

    def _after_early_finish(self) -> None:
        """After the teardown of a run whose report was written before it: take what
        arrived during the teardown (a worker slower than the wait) and, if anything did,
        write the report again with it (the history row and summaries stay as written)."""
        assert self._early is not None
        collected, status = self._early
        if self.before_finish is not None:
            self.before_finish()
        for data in self.state.export_live(interrupted=True):
            self.state.add(data)
        if self._collected() == collected:
            return
        self.state.add_warnings(
            [
                "some records were added after the report was first written (during "
                "pytest-xdist's teardown, or by another plugin at the end of the session): "
                "this report and records.jsonl have them; the run history's row and the "
                "summaries written before do not"
            ]
        )
        before = len(self.state.write_problems())
        self.state.write_report(status)
        for message in self.state.write_problems()[before:]:
            self._error(message)

    def _finish(self, session: pytest.Session, exitstatus: int) -> int:
        """Publish the report and write every output of the run; returns the report's exit
        status."""
        state = self.state
        if self.config.stash.get(SIGTERM_SEEN_KEY, False):
            # pytest-xdist may have stopped on `shouldstop` with the interrupt swallowed
            # elsewhere: the run was still cut short, and says so.
            session.exitstatus = exitstatus = pytest.ExitCode.INTERRUPTED
        interrupted = int(exitstatus) == pytest.ExitCode.INTERRUPTED
        if interrupted and self.before_finish is not None:
            self.before_finish()
        for data in state.export_live(interrupted=interrupted):
            state.add(data)
        status = self._history_before_report(session, int(exitstatus), interrupted)
        before = len(state.write_problems())
        state.write_report(status)
        if self.history is not None:
            self.history.after_report(state, state.calibration_metrics)
        if state.files is not None and state.settings.html_paths:
            from .html.write import write_run_pages

            self.pages, problems = write_run_pages(state, state.settings.html_paths)
            state.files.problems.extend(problems)
        problems = state.write_problems()[before:]
        if state.has_report:
            problems += self._write_ci_outputs()
        if problems:
            for message in problems:
                self._error(message)
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return status

    def _history_before_report(
        self, session: pytest.Session, status: int, interrupted: bool
    ) -> int:
        """Compare with the baseline and decide the cost gates (failed ones fail the run, as
        the session budget does: every test ran, then an ERROR line and exit status 1)."""
        if self.history is None or not self.state.wants_report():
            return status
        errors = self.history.before_report(self.state, interrupted)
        for message in errors:
            self._error(message)
        if errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return int(pytest.ExitCode.TESTS_FAILED)
        return status

    def _print_history(self, terminalreporter: pytest.TerminalReporter, printed: bool) -> None:
        """The "compared with" section; history warnings when no section showed them."""
        if self.history is None:
            return
        section = self.history.compare_section(self.config.get_terminal_writer().fullwidth)
        if section is not None:
            terminalreporter.write_sep("=", section[0])
            for line in section[1]:
                terminalreporter.write_line(line)
        late = self.history.late_warnings
        for warning in late if printed else [*self.history.warnings, *late]:
            terminalreporter.write_line(f"Warning: {warning}", yellow=True)

    def _write_ci_outputs(self) -> list[str]:
        """Markdown targets and the GitHub step summary; returns what could not be written.

        The Markdown holds the run's errors and the extra sections that parts of the run put
        in `state.summary_sections` or return from `pytest_tokencost_summary_sections`: both
        must be ready when this runs (the end of `pytest_sessionfinish`).
        """
        state = self.state
        targets = state.settings.report_paths("markdown")
        if not targets and (
            state.settings.github_summary == "false" or not os.environ.get("GITHUB_STEP_SUMMARY")
        ):
            return []  # as `ci.github_summary_path` decides, without importing `ci`'s models
        from .ci import append_step_summary, github_summary_path, render_markdown
        from .outdir import atomic_write_text

        report = state.report
        assert report is not None
        github = github_summary_path(state.settings.github_summary)
        if not targets and github is None:
            return []
        sections = list(state.summary_sections)
        for provided in self.config.hook.pytest_tokencost_summary_sections(
            report=report, config=self.config
        ):
            sections.extend(provided or ())
        markdown = render_markdown(
            report, top=state.settings.top, errors=self.errors, sections=sections
        )
        problems = []
        for path in targets:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, markdown)
                self.written.append(("Markdown summary", path))
            except OSError as exc:
                problems.append(f"cannot write the Markdown summary {path}: {exc.strerror or exc}")
        if github is not None:
            try:
                append_step_summary(github, markdown)
                self.written.append(("GitHub step summary", github))
            except OSError as exc:
                problems.append(
                    f"cannot append to $GITHUB_STEP_SUMMARY {github}: {exc.strerror or exc}"
                )
        return problems

    @pytest.hookimpl(trylast=True)  # the section and its ERROR lines close the summary
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print the Token & Cost section, where reports were written, the run's ERROR lines
        and (in GitHub Actions) the budget and error annotations."""
        printed = self._print_section(terminalreporter)
        self._print_history(terminalreporter, printed)
        self._print_written(terminalreporter)
        if os.environ.get("GITHUB_ACTIONS") == "true":  # else `ci` (and the models) stay unloaded
            from .ci import workflow_commands

            for command in workflow_commands(self.state.report, self.errors):
                terminalreporter.write_line(command)
        for message in self.errors:
            terminalreporter.write_line(f"ERROR: {message}", red=True, bold=True)
        if self.errors:
            # pytest's own last line counts tests only, and may be green: say it in red.
            terminalreporter.write_sep("=", "tokencost failed the run (ERROR above)", red=True)

    def _print_section(self, terminalreporter: pytest.TerminalReporter) -> bool:
        """The Token & Cost section, when asked for (or records exist and the ini says so);
        returns whether it was printed."""
        state = self.state
        settings = state.settings
        if not state.has_report or not (
            settings.term or (settings.report_on_records and state.records)
        ):
            return False
        from .render import TITLE

        terminalreporter.write_sep("=", TITLE)
        for text, style in self._section_lines():
            terminalreporter.write_line(text, **({style: True} if style else {}))
        return True

    def _section_lines(self) -> list[tuple[str, str | None]]:
        """The section's lines, each with its style (None: plain)."""
        state = self.state
        settings = state.settings
        if state.plain_empty_report:  # "No tokens recorded.", without the models
            return [(text, None) for text in state.section_lines()]
        from .render import render_lines

        brief = settings.term_brief and not any(
            t.kind == "term" and t.word is None for t in settings.reports
        )
        report = state.report
        assert report is not None  # has_report
        width = self.config.get_terminal_writer().fullwidth
        return render_lines(report, tables=not brief, width=width, top=settings.top)

    def _print_written(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Where the HTML pages, JSON copies and Markdown summaries were written."""
        state = self.state
        for page in self.pages:
            terminalreporter.write_line(f"tokencost: HTML report {page.as_uri()}")
        if state.has_report and not state.write_problems():
            for path in state.settings.json_paths:
                terminalreporter.write_line(f"tokencost: JSON report written to {path}")
        for what, path in self.written:
            terminalreporter.write_line(f"tokencost: {what} written to {path}")


class _ResultLineHooks:
    """With -v (only then registered: a hook wrapper on every result line costs every test):
    the test's tokens and cost on its result line, while the results are printed."""

    def __init__(self, writer: _WriterHooks) -> None:
        self.writer = writer

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> Generator[None, Any, Any]:
        """The note the record carrier put on the call report, after the status word."""
        result = yield
        note = getattr(report, "tokencost_line", None)
        if not self.writer.results_running or not note or not isinstance(result, tuple):
            return result
        if len(result) != 3:
            return result
        category, letter, word = result
        if isinstance(word, tuple):
            return category, letter, (f"{word[0]} ({note})", word[1])
        return category, letter, f"{word} ({note})" if word else word
