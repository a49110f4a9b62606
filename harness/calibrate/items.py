"""pytest collection of calibration scenarios: scenario files, case items, the run's hooks.

Imported only when ``--adapter`` is given (see `calibrate.plugin`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_tokencost.transcripts import TranscriptWatch

    from .adapters import Adapter
    from .ratio import RatioFile
    from .runner import CaseResult, RunConfig
    from .scenario import Case, Scenario
    from .session import CalibrationCollector

HARNESS_KEY = pytest.StashKey["Harness"]()
RESULT_KEY = pytest.StashKey["CaseResult"]()
#: The name under which a case's result rides in its test payload's extensions.
EXTENSION = "calibration"


class CaseFailed(Exception):
    """A case whose steps did not all match the ground truth, or whose dispatch failed."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.case_id)
        self.result = result


class ScenarioFile(pytest.File):
    """A scenario file; its items are the cases."""

    def collect(self) -> Iterator[pytest.Item]:
        """One `CaseItem` per case, marked `calibration`."""
        from pytest_tokencost.errors import TokenCostError

        from .scenario import load_scenario

        try:
            scenario = load_scenario(self.path)
            self.config.stash[HARNESS_KEY].check_ratios(scenario)
        except TokenCostError as exc:  # a bad scenario, a ratio file of another scenario
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
        from pytest_tokencost.plugin import add_test_extension, tracker_for_item

        from .runner import run_case

        harness = self.config.stash[HARNESS_KEY]
        config = harness.run_config(self.scenario)
        if harness.timeouts.exhausted:  # the agent is gone: do not wait out every case
            pytest.skip(f"not run: {harness.timeouts.reason(config.context.dispatch_dir)}")
        result = run_case(config, self.case, tracker_for_item(self))
        self.stash[RESULT_KEY] = result
        add_test_extension(
            self,
            EXTENSION,
            {"scenario": self.scenario.id, "result": result.model_dump(mode="json")},
        )
        if not result.passed:
            raise CaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """For a failed case: which steps missed which fields, or why a dispatch failed."""
        from pytest_tokencost.redact import redact

        if not isinstance(excinfo.value, CaseFailed):
            return redact(str(super().repr_failure(excinfo, style=style)))
        result = excinfo.value.result
        lines = [f"case {self.case.id} of scenario {self.scenario.id}:"]
        if not result.steps and result.error:
            lines.append(f"  ERROR {result.error}")
        for step in result.steps:
            if step.error:
                lines.append(f"  {step.step}: ERROR {step.error}")
            for miss in step.mismatches:
                got = (  # None: the artifact has no such header line at all
                    f"missing field {miss.field!r}"
                    if miss.got is None
                    else f"{miss.field} = {miss.got!r}"
                )
                lines.append(f"  {step.step}: {got}, expected {miss.expected!r}")
        return redact("\n".join(lines))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the case comes from."""
        return self.path, None, f"{self.scenario.id}::{self.case.id}"


class Harness:
    """Per-run state and hooks of the harness."""

    def __init__(
        self,
        config: pytest.Config,
        adapter: Adapter,
        ratios: RatioFile | None,
        collector: CalibrationCollector,
    ) -> None:
        self.config = config
        self.adapter = adapter
        self.ratios = ratios
        self.collector = collector
        self._configs: dict[str, RunConfig] = {}
        self._watch: TranscriptWatch | None = None
        self._checked: set[str] = set()
        from .dispatch import TimeoutTally

        self.timeouts = TimeoutTally(config.getoption("calibrate_max_timeouts"))
        # Workers of pytest-xdist never print; the controller's header names the folder.
        self._prints = not hasattr(config, "workerinput") and config.get_verbosity() > -2

    def dispatch_folder(self, scenario_id: str) -> Path:
        """Where the file protocol's requests of a scenario go."""
        from pytest_tokencost.plugin import run_state

        dispatch = self.config.getoption("calibrate_dispatch_dir")
        if dispatch:
            return Path(self.config.invocation_params.dir, dispatch)
        return run_state(self.config).settings.output_dir / "dispatch" / scenario_id

    def pytest_report_header(self) -> list[str]:
        """Two lines (each fits 80 columns but for a long path): the adapter, its timeout and
        stop rule; where requests are written."""
        option = self.config.getoption
        limit = option("calibrate_max_timeouts")
        parts = [
            f"adapter {option('calibrate_adapter')}",
            f"timeout {option('calibrate_timeout'):g}s a step",
            f"stop after {limit} timed-out step(s)" if limit else "never stop on timeouts",
        ]
        return [
            "calibrate: " + ", ".join(parts),
            f"calibrate: dispatch folder {self.dispatch_folder('<scenario>')}",
        ]

    def progress(self, line: str) -> None:
        """Show a waiting dispatch's progress line on the terminal, outside output capture."""
        if not self._prints:
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        # As pytest's live logging does: suspend capture so that the line reaches the terminal.
        with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
            reporter.write_line(f"calibrate: {line}")

    def check_ratios(self, scenario: Scenario) -> None:
        """Refuse a ratio file of another scenario; warn once for steps it lacks."""
        if self.ratios is None or scenario.id in self._checked:
            return
        self._checked.add(scenario.id)
        self.collector.warnings.extend(self.ratios.check(scenario))

    def transcripts(self) -> TranscriptWatch | None:
        """The run's transcript watch (one for every scenario, so a response counts once)."""
        paths = self.config.getoption("calibrate_transcripts")
        if paths and self._watch is None:
            from pytest_tokencost.transcripts import TranscriptWatch

            self._watch = TranscriptWatch(
                [Path(self.config.invocation_params.dir, p) for p in paths],
                claims=self._claims_folder(),
            )
        return self._watch

    def _claims_folder(self) -> Path | None:
        """Under pytest-xdist: the folder where processes claim transcript responses."""
        from pytest_tokencost.plugin import run_state

        workerinput = getattr(self.config, "workerinput", None)
        xdist_controller = bool(getattr(self.config.option, "numprocesses", None))
        if workerinput is None and not xdist_controller:
            return None
        state = run_state(self.config)
        return state.settings.output_dir / "transcript-claims" / state.run_id

    def run_config(self, scenario: Scenario) -> RunConfig:
        """The run configuration of a scenario, made once per process."""
        config = self._configs.get(scenario.id)
        if config is None:
            from .adapters import AdapterContext
            from .runner import RunConfig

            option = self.config.getoption
            context = AdapterContext(
                scenario=scenario,
                model=option("calibrate_model"),
                dispatch_dir=self.dispatch_folder(scenario.id),
                timeout_s=option("calibrate_timeout"),
                base_url=option("calibrate_base_url"),
                progress=self.progress,
                timeouts=self.timeouts,
            )
            config = self._configs[scenario.id] = RunConfig(
                scenario=scenario,
                adapter=self.adapter,
                context=context,
                ratios=self.ratios.factors if self.ratios is not None else {},
                transcripts=self.transcripts(),
            )
        return config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect case results in the process that writes files (they ride in the payload)."""
        payload = getattr(report, "tokencost", None)
        if not isinstance(payload, dict) or hasattr(self.config, "workerinput"):
            return
        extensions = payload.get("extensions")
        if isinstance(extensions, dict) and EXTENSION in extensions:
            self.collector.add(extensions[EXTENSION])

    def pytest_sessionfinish(self) -> None:
        """Count the transcript usage no window took, then write the calibration report(s)
        next to token-report.json (and remove older runs' reports this run did not rewrite).

        Runs before the core plugin's own `pytest_sessionfinish` (registered later, called
        first), so the unattributed records are in token-report.json and records.jsonl too.
        """
        if hasattr(self.config, "workerinput"):
            return
        from pytest_tokencost.outdir import ensure_output_dir
        from pytest_tokencost.plugin import run_state

        from .session import remove_stale_reports

        state = run_state(self.config)
        watch = self.transcripts()
        if watch is not None and self.collector.results:
            swept = self.collector.sweep(watch, state.started, state.pricer(), state.run_id)
            if swept:
                state.add_records(swept)
                state.add_warnings(self.collector.warnings)
        if watch is not None and watch.claims is not None:
            import shutil

            shutil.rmtree(watch.claims, ignore_errors=True)  # the run's claims are settled
        self.reports = self.collector.reports(state.run_id, state.records, state.runs)
        state.set_calibration_metrics((s, report.metrics) for s, report in self.reports.items())
        written = [self.collector.file_name(s, len(self.reports)) for s in self.reports]
        folder = state.settings.output_dir
        if written:
            ensure_output_dir(folder)
        for name, report in zip(written, self.reports.values(), strict=True):
            report.write(folder / name)
        if folder.is_dir():
            remove_stale_reports(folder, written)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print the Calibration section after the Token & Cost section."""
        from .report import render_calibration

        for scenario, report in getattr(self, "reports", {}).items():
            terminalreporter.write_sep("=", f"Calibration: {scenario}")
            for line in render_calibration(report):
                terminalreporter.write_line(line)
        from pytest_tokencost.redact import redact

        for warning in self.collector.warnings:  # may quote a payload: no secrets
            terminalreporter.write_line(f"Warning: {redact(warning)}", yellow=True)
