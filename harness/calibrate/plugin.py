"""pytest wiring of the calibration harness: `--adapter`, scenario collection, case items.

With ``--adapter NAME``, every `scenario.toml` / `scenario.json` that pytest's collection
reaches becomes a file whose items are the scenario's cases, marked `calibration`. Without
``--adapter`` this plugin does nothing beyond registering its options and marker; the
collection classes (`calibrate.items`) are imported only with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_tokencost.settings import parse_count, parse_seconds

SCENARIO_FILES = ("scenario.toml", "scenario.json")
_HARNESS_PLUGIN_NAME = "tokencost-calibrate-run"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Add the harness's own hooks (see `calibrate.hookspecs`)."""
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the harness's options."""
    group = parser.getgroup("calibrate", "calibration harness (pytest-tokencost)")
    group.addoption(
        "--adapter",
        dest="calibrate_adapter",
        metavar="NAME",
        default=None,
        help="Run the calibration scenarios found by collection through this adapter "
        "(stub, cursor, openai, or one a plugin adds). Default: %(default)r (no scenarios)",
    )
    group.addoption(
        "--adapter-model",
        dest="calibrate_model",
        metavar="MODEL",
        default=None,
        help="Model for the adapter (counts become exact for OpenAI models). Default: %(default)r",
    )
    group.addoption(
        "--adapter-timeout",
        dest="calibrate_timeout",
        metavar="SECONDS",
        type=parse_seconds,
        default=600.0,
        help="How long a dispatch may take before its step fails. Default: %(default)r",
    )
    group.addoption(
        "--adapter-max-timeouts",
        dest="calibrate_max_timeouts",
        metavar="N",
        type=parse_count,
        default=3,
        help="Stop dispatching after N steps timed out (the agent looks gone): the remaining "
        "cases are skipped and the run fails. 0: never stop. Default: %(default)r",
    )
    group.addoption(
        "--dispatch-dir",
        dest="calibrate_dispatch_dir",
        metavar="DIR",
        default=None,
        help="Folder the cursor adapter writes prompts to and reads artifacts from. "
        "Default: <cost dir>/dispatch/<scenario>",
    )
    group.addoption(
        "--openai-base-url",
        dest="calibrate_base_url",
        metavar="URL",
        default=None,
        help="Base URL of the OpenAI-compatible endpoint (else $OPENAI_BASE_URL). "
        "Default: %(default)r",
    )
    group.addoption(
        "--cost-transcripts",
        dest="calibrate_transcripts",
        metavar="PATH",
        action="append",
        default=None,
        help="Agent transcripts (Claude Code or Codex JSONL, files or folders) to charge each "
        "step with the usage logged during its dispatch (reported counts). Repeatable. "
        "Default: %(default)r",
    )
    group.addoption(
        "--cost-calibration",
        dest="calibrate_ratios",
        metavar="PATH",
        default=None,
        help="Ratio file from `tokencost ratio`: scale stub estimates and label them "
        "calibrated. Default: %(default)r",
    )


@pytest.hookimpl(trylast=True)  # after pytest_tokencost.plugin has made the run state
def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; with --adapter, set up the harness for this run."""
    config.addinivalue_line(
        "markers", "calibration: a case of a calibration scenario (pytest-tokencost)"
    )
    name = config.getoption("calibrate_adapter")
    if not name:
        return
    from pytest_tokencost.errors import TokenCostError
    from pytest_tokencost.plugin import accounting_disabled, run_state

    try:
        state = run_state(config)
    except pytest.UsageError:  # -p no:tokencost or --no-cost: no run state
        if accounting_disabled(config):
            raise pytest.UsageError(
                f"--adapter={name} measures tokens, which --no-cost turned off; drop --no-cost, "
                "or drop --adapter to leave the calibration harness off"
            ) from None
        raise pytest.UsageError(
            f"--adapter={name} needs the tokencost plugin, which -p no:tokencost disabled; "
            "drop -p no:tokencost, or drop --adapter to leave the calibration harness off"
        ) from None

    from .adapters import resolve_adapter, startup_problem
    from .items import HARNESS_KEY, Harness
    from .ratio import load_ratios
    from .session import CalibrationCollector

    extra: dict[str, Any] = {}
    for provided in config.hook.pytest_tokencost_adapters():
        extra.update(provided)
    ratios_option = config.getoption("calibrate_ratios")
    ratios_file = Path(config.invocation_params.dir, ratios_option) if ratios_option else None
    try:
        adapter = resolve_adapter(name, extra)
        ratios = load_ratios(ratios_file) if ratios_file else None
    except TokenCostError as exc:
        raise pytest.UsageError(str(exc)) from None
    problem = startup_problem(adapter, base_url=config.getoption("calibrate_base_url"))
    if problem is not None:  # one error before the run, not the same failure in every case
        raise pytest.UsageError(problem)
    state.declare_harness(name)  # a calibration run always rewrites all its reports
    collector = CalibrationCollector(name, adapter.provenance, ratios_file)
    harness = Harness(config, adapter, ratios, collector)
    config.stash[HARNESS_KEY] = harness
    config.pluginmanager.register(harness, _HARNESS_PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the run's harness."""
    plugin = config.pluginmanager.get_plugin(_HARNESS_PLUGIN_NAME)
    if plugin is not None:
        config.pluginmanager.unregister(plugin)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A scenario file becomes a collector of its cases (only when --adapter is given)."""
    if file_path.name in SCENARIO_FILES and parent.config.getoption("calibrate_adapter"):
        from .items import ScenarioFile

        return ScenarioFile.from_parent(parent, path=file_path)
    return None
