"""The pytest plugin: wires pytest's hooks to the pytest-free core, and nothing else.

Loaded at every pytest start-up through the `pytest11` entry point, so it imports only light
modules; the accounting core (pydantic, tiktoken, genai-prices) is imported when a test first
asks for `token_tracker`, and a test that records nothing costs one stash lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .settings import (
    DEFAULT_DIR,
    DEFAULT_RATE_TEXT,
    ReportTarget,
    Settings,
    parse_fraction,
    parse_positive,
    parse_rate,
    parse_report_target,
)

if TYPE_CHECKING:
    from collections.abc import Generator

    from .session import RunState
    from .tracker import InMemoryTokenTracker

STATE_KEY = pytest.StashKey["RunState"]()
TRACKER_KEY = pytest.StashKey["InMemoryTokenTracker"]()
_RUN_PLUGIN_NAME = "tokencost-run"
_CARRIER_PLUGIN_NAME = "tokencost-carrier"
_GATE_PLUGIN_NAME = "tokencost-budget-gate"
_CAPTURE_PLUGIN_NAME = "tokencost-capture"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Add pytest-tokencost's own hooks (see `pytest_tokencost.hookspecs`)."""
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


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
        "no TYPE is given), 'json:PATH' writes a copy of token-report.json to PATH. Repeatable. "
        "Default: %(default)r",
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
        help="Share of a budget at which to warn. Default: 0.8",
    )
    group.addoption(
        "--cost-capture",
        action="store_true",
        dest="tokencost_capture",
        default=False,
        help="Record every call the openai and anthropic SDKs make during a test (through "
        "httpx2), with no change to the tests. Default: %(default)r",
    )
    parser.addini(
        "tokencost_capture", "Capture SDK calls as with --cost-capture.", type="bool", default=False
    )
    parser.addini("tokencost_budget_usd", "Session budget in dollars.", default="")
    parser.addini("tokencost_budget_tokens", "Session budget in tokens.", default="")
    parser.addini("tokencost_warn_at", "Share of a budget at which to warn (0.8).", default="")
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
        "tokencost_report",
        "Print the Token & Cost section whenever tokens were recorded, without --cost-report.",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Resolve settings, create the run state, register the per-run hooks."""
    from .session import RunState

    config.addinivalue_line(
        "markers",
        "token_budget(max_tokens=None, max_input=None, max_output=None, max_usd=None, "
        "models=None): this test's token/USD budget; warns at 80%, fails the test at 100% "
        "(pytest-tokencost)",
    )
    try:
        settings = Settings.from_config(config)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    numprocesses = getattr(config.option, "numprocesses", None)
    state = RunState(
        settings,
        writes_files=not hasattr(config, "workerinput"),
        argv=[str(arg) for arg in config.invocation_params.args],
        pytest_version=pytest.__version__,
        workers=numprocesses if isinstance(numprocesses, int) else 0,
        run_id=getattr(config, "workerinput", {}).get("tokencost_run_id"),
    )
    if settings.prices_file is not None:
        from .errors import PriceFileError

        try:
            state.pricer()  # read the price file now: a bad one is a usage error, not 100 failures
        except PriceFileError as exc:
            raise pytest.UsageError(str(exc)) from None
    from .errors import TokenCostError

    try:
        state.open_ledger()
    except TokenCostError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(_RunHooks(state, config), _RUN_PLUGIN_NAME)
    if state.ledger is not None:
        from .item_hooks import SessionBudgetGate

        config.pluginmanager.register(SessionBudgetGate(state), _GATE_PLUGIN_NAME)
    if config.getoption("tokencost_capture") or config.getini("tokencost_capture"):
        from .item_hooks import CaptureHooks

        config.pluginmanager.register(CaptureHooks(), _CAPTURE_PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the per-run hooks (pytester runs many sessions in one process)."""
    for name in (_RUN_PLUGIN_NAME, _CARRIER_PLUGIN_NAME, _GATE_PLUGIN_NAME, _CAPTURE_PLUGIN_NAME):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            if name == _CAPTURE_PLUGIN_NAME:
                plugin.capture.uninstall()
            config.pluginmanager.unregister(plugin)
    if STATE_KEY in config.stash:
        del config.stash[STATE_KEY]


@pytest.fixture
def token_tracker(request: pytest.FixtureRequest) -> InMemoryTokenTracker:
    """This test's token tracker: `record(...)`, `observe(response)`, `step(name)`, `case(id)`.

    Its records are priced, attributed to this test and added to the run's Token & Cost report.
    """
    return tracker_for_item(request.node)


def tracker_for_item(item: pytest.Item) -> InMemoryTokenTracker:
    """The tracker of `item`, made on first use; its records reach the run's report.

    The `token_tracker` fixture uses it, and so do items that are not Python tests (the
    calibration harness's cases).
    """
    from .item_hooks import tracker_for_item as make

    return make(item)


class _RunHooks:
    """Hooks of one run, delegating to its `RunState`."""

    def __init__(self, state: RunState, config: pytest.Config) -> None:
        self.state = state
        self.config = config

    def pytest_report_header(self) -> str:
        """One line saying where prices come from and where the output goes."""
        from importlib.metadata import version

        settings = self.state.settings
        budgets = []
        if settings.budget_usd is not None:
            budgets.append(f"${settings.budget_usd:g}")
        if settings.budget_tokens is not None:
            budgets.append(f"{settings.budget_tokens:,} tokens")
        parts = [
            f"prices genai-prices {version('genai-prices')}",
            f"default rate {settings.default_rate} USD/MTok",
            f"output {settings.output_dir}",
        ]
        if settings.prices_file is not None:
            parts.append(f"overrides {settings.prices_file}")
        if budgets:
            parts.append(f"session budget {' and '.join(budgets)} (warn at {settings.warn_at:.0%})")
        if settings.strict:
            parts.append("strict")
        return "tokencost: " + ", ".join(parts)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect records as each test's report arrives (replayed from workers under xdist)."""
        payload: Any = getattr(report, "tokencost", None)
        if payload is not None and self.state.writes_files:
            self.state.add(payload, report.nodeid)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist: workers share the controller's run id (and so its budget ledger)."""
        node.workerinput["tokencost_run_id"] = self.state.run_id

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """Fail the run when the session budget ran out, or (--cost-strict) went unpriced."""
        result = yield
        state = self.state
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if state.writes_files and state.ledger is not None and state.ledger.exhausted():
            message = (
                "ERROR: session token budget exhausted: "
                + "; ".join(state.session_budget_lines())
                + "; tests not yet started were not run"
            )
            if reporter is not None:
                reporter.write_line(message, red=True, bold=True)
            state.warnings.append(message.removeprefix("ERROR: "))
            session.testsfailed += 1
        if state.settings.strict and state.writes_files and state.has_unpriced():
            message = (
                "ERROR: --cost-strict: no price is known for "
                f"{', '.join(state.unpriced_models())}; add them to a --cost-prices file"
            )
            if reporter is not None:
                reporter.write_line(message, red=True, bold=True)
            state.warnings.append(message.removeprefix("ERROR: "))
            session.testsfailed += 1
        return result

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write token-report.json (atomically) in the process that writes files."""
        if self.state.writes_files:
            self.state.finish(int(exitstatus))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print the Token & Cost section."""
        state = self.state
        report = state.report
        if report is None or not state.writes_files:
            return
        if not (state.settings.term or (state.settings.report_on_records and state.records)):
            return
        from .render import TITLE, render_report

        terminalreporter.write_sep("=", TITLE)
        for line in render_report(report):
            terminalreporter.write_line(line)
