"""pytest wiring of the calibration harness: `--adapter`, scenario collection, case items.

With ``--adapter NAME``, every `scenario.toml` / `scenario.json` that pytest's collection
reaches becomes a file whose items are the scenario's cases, marked `calibration`. Without
``--adapter`` this plugin does nothing beyond registering its options and marker.
"""

from __future__ import annotations

import argparse
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .adapters import Adapter
    from .runner import CaseResult, RunConfig
    from .scenario import Case, Scenario
    from .session import CalibrationCollector

SCENARIO_FILES = ("scenario.toml", "scenario.json")
HARNESS_KEY = pytest.StashKey["_Harness"]()
RESULT_KEY = pytest.StashKey["CaseResult"]()
_HARNESS_PLUGIN_NAME = "tokencost-calibrate-run"


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds


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
        type=_positive_seconds,
        default=600.0,
        help="How long a dispatch may take before its step fails. Default: %(default)r",
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
    from pytest_tokencost.plugin import STATE_KEY

    from .adapters import resolve_adapter
    from .ratio import load_ratios
    from .session import CalibrationCollector

    extra: dict[str, Any] = {}
    for provided in config.hook.pytest_tokencost_adapters():
        extra.update(provided)
    ratios_option = config.getoption("calibrate_ratios")
    ratios_file = Path(config.invocation_params.dir, ratios_option) if ratios_option else None
    try:
        adapter = resolve_adapter(name, extra)
        ratios = load_ratios(ratios_file) if ratios_file else {}
    except TokenCostError as exc:
        raise pytest.UsageError(str(exc)) from None
    if STATE_KEY not in config.stash:
        raise pytest.UsageError("--adapter needs the tokencost plugin; drop -p no:tokencost")
    state = config.stash[STATE_KEY]
    state.adapter = name
    collector = CalibrationCollector(name, adapter.provenance, ratios_file)
    harness = _Harness(config, adapter, ratios, collector)
    config.stash[HARNESS_KEY] = harness
    config.pluginmanager.register(harness, _HARNESS_PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the run's harness."""
    plugin = config.pluginmanager.get_plugin(_HARNESS_PLUGIN_NAME)
    if plugin is not None:
        config.pluginmanager.unregister(plugin)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A scenario file becomes a collector of its cases (only when --adapter is given)."""
    if file_path.name in SCENARIO_FILES and HARNESS_KEY in parent.config.stash:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class CaseFailed(Exception):
    """A case whose steps did not all match the ground truth, or whose dispatch failed."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.case_id)
        self.result = result


class ScenarioFile(pytest.File):
    """A scenario file; its items are the cases."""

    def collect(self) -> Iterator[pytest.Item]:
        """One `CaseItem` per case, marked `calibration`."""
        from .scenario import ScenarioError, load_scenario

        try:
            scenario = load_scenario(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for case in scenario.cases:
            item = CaseItem.from_parent(self, name=case.id, scenario=scenario, case=case)
            item.add_marker(pytest.mark.calibration)
            yield item


class CaseItem(pytest.Item):
    """One case of a scenario, run through every step with the selected adapter."""

    def __init__(self, *, scenario: Scenario, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.case = case

    def runtest(self) -> None:
        """Run the case; fail when a step errored or a scored field did not match."""
        from pytest_tokencost.plugin import tracker_for_item

        from .runner import run_case

        harness = self.config.stash[HARNESS_KEY]
        result = run_case(harness.run_config(self.scenario), self.case, tracker_for_item(self))
        self.stash[RESULT_KEY] = result
        if not result.passed:
            raise CaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """For a failed case: which steps missed which fields, or why a dispatch failed."""
        if not isinstance(excinfo.value, CaseFailed):
            return str(super().repr_failure(excinfo, style=style))
        result = excinfo.value.result
        lines = [f"case {self.case.id} of scenario {self.scenario.id}:"]
        if not result.steps and result.error:
            lines.append(f"  ERROR {result.error}")
        for step in result.steps:
            if step.error:
                lines.append(f"  {step.step}: ERROR {step.error}")
            for miss in step.mismatches:
                lines.append(
                    f"  {step.step}: {miss.field} = {miss.got!r}, expected {miss.expected!r}"
                )
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the case comes from."""
        return self.path, None, f"{self.scenario.id}::{self.case.id}"


class _Harness:
    """Per-run state and hooks of the harness."""

    def __init__(
        self,
        config: pytest.Config,
        adapter: Adapter,
        ratios: dict[str, tuple[float, float]],
        collector: CalibrationCollector,
    ) -> None:
        self.config = config
        self.adapter = adapter
        self.ratios = ratios
        self.collector = collector
        self._configs: dict[str, RunConfig] = {}

    def run_config(self, scenario: Scenario) -> RunConfig:
        """The run configuration of a scenario, made once per process."""
        config = self._configs.get(scenario.id)
        if config is None:
            from pytest_tokencost.plugin import STATE_KEY

            from .adapters import AdapterContext
            from .runner import RunConfig

            option = self.config.getoption
            dispatch = option("calibrate_dispatch_dir")
            output_dir = self.config.stash[STATE_KEY].settings.output_dir
            context = AdapterContext(
                scenario=scenario,
                model=option("calibrate_model"),
                dispatch_dir=Path(self.config.invocation_params.dir, dispatch)
                if dispatch
                else output_dir / "dispatch" / scenario.id,
                timeout_s=option("calibrate_timeout"),
                base_url=option("calibrate_base_url"),
            )
            config = self._configs[scenario.id] = RunConfig(
                scenario=scenario, adapter=self.adapter, context=context, ratios=self.ratios
            )
        return config

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Put a case's result on its call report (it travels through xdist on it)."""
        report = yield
        if call.when == "call" and isinstance(item, CaseItem) and RESULT_KEY in item.stash:
            report.calibration = {  # type: ignore[attr-defined]
                "scenario": item.scenario.id,
                "result": item.stash[RESULT_KEY].model_dump(mode="json"),
            }
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect case results in the process that writes files."""
        payload = getattr(report, "calibration", None)
        if payload is not None and not hasattr(self.config, "workerinput"):
            self.collector.add(payload)

    def pytest_sessionfinish(self) -> None:
        """Write the calibration report(s) next to token-report.json."""
        if hasattr(self.config, "workerinput") or not self.collector.results:
            return
        from pytest_tokencost.outdir import ensure_output_dir
        from pytest_tokencost.plugin import STATE_KEY

        state = self.config.stash[STATE_KEY]
        self.reports = self.collector.reports(state.run_id, state.records, state.runs)
        ensure_output_dir(state.settings.output_dir)
        for scenario, report in self.reports.items():
            name = self.collector.file_name(scenario, len(self.reports))
            report.write(state.settings.output_dir / name)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print the Calibration section after the Token & Cost section."""
        from .report import render_calibration

        for scenario, report in getattr(self, "reports", {}).items():
            terminalreporter.write_sep("=", f"Calibration: {scenario}")
            for line in render_calibration(report):
                terminalreporter.write_line(line)
        for warning in self.collector.warnings:
            terminalreporter.write_line(f"Warning: {warning}", yellow=True)
