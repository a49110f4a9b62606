"""Running a scenario without pytest: `python -m calibrate run PATH --adapter stub`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_tokencost.console import reader_may_leave
from pytest_tokencost.constants import OUTPUT_DIR_NAME
from pytest_tokencost.errors import TokenCostError
from pytest_tokencost.redact import redact, redact_argv
from pytest_tokencost.render import TITLE, render_report
from pytest_tokencost.session import RunState
from pytest_tokencost.settings import Settings, parse_count, parse_seconds
from pytest_tokencost.transcripts import TranscriptWatch

from .adapters import AdapterContext, resolve_adapter, startup_problem
from .dispatch import DispatchError, TimeoutTally
from .ratio import load_ratios
from .report import CalibrationReport, render_calibration
from .runner import RunConfig, run_case
from .scenario import load_scenario
from .session import CalibrationCollector, remove_stale_reports

__all__ = ["DEFAULT_MAX_TIMEOUTS", "main", "run_scenario"]

DEFAULT_MAX_TIMEOUTS = 3  # as --adapter-max-timeouts under pytest

# Exit statuses of `python -m calibrate run`.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AGENT_GONE = 0, 1, 2, 3


def run_scenario(
    path: Path | str,
    *,
    adapter: str = "stub",
    output_dir: Path | str = OUTPUT_DIR_NAME,
    model: str | None = None,
    dispatch_dir: Path | None = None,
    timeout_s: float = 600.0,
    base_url: str | None = None,
    ratios_file: Path | None = None,
    transcripts: list[Path] | None = None,
    timeouts: TimeoutTally | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[RunState, CalibrationReport]:
    """Run every case of the scenario at `path`; write token-report.json, records.jsonl and
    calibration-report.json into `output_dir`; return the run state and the report.

    `timeouts` counts the steps that timed out; once its limit is reached the remaining cases
    are not run (the caller reads `timeouts.exhausted`). `progress` receives a line whenever
    the run waits for an agent.
    """
    scenario = load_scenario(path)
    chosen = resolve_adapter(adapter)
    problem = startup_problem(chosen, base_url=base_url)
    if problem is not None:
        raise DispatchError(problem)
    timeouts = timeouts if timeouts is not None else TimeoutTally(DEFAULT_MAX_TIMEOUTS)
    ratios = load_ratios(ratios_file) if ratios_file else None
    ratio_warnings = ratios.check(scenario) if ratios is not None else []
    out = Path(output_dir).resolve()
    state = RunState(
        Settings(output_dir=out),
        argv=redact_argv(sys.argv),  # a key in --openai-base-url stays out of the report
        pytest_version="(not run under pytest)",
    )
    state.declare_harness(adapter)
    config = RunConfig(
        scenario=scenario,
        adapter=chosen,
        context=AdapterContext(
            scenario=scenario,
            model=model,
            dispatch_dir=dispatch_dir or out / "dispatch" / scenario.id,
            timeout_s=timeout_s,
            base_url=base_url,
            progress=progress,
            timeouts=timeouts,
        ),
        ratios=ratios.factors if ratios is not None else {},
        transcripts=TranscriptWatch(transcripts) if transcripts else None,
    )
    collector = CalibrationCollector(adapter, chosen.provenance, ratios_file)
    collector.warnings += ratio_warnings
    for case in scenario.cases:
        if timeouts.exhausted:  # the agent is gone: the caller says which cases did not run
            break
        tracker = state.new_tracker(f"{scenario.id}::{case.id}")
        result = run_case(config, case, tracker)
        state.add(state.export_data(tracker))
        collector.add({"scenario": scenario.id, "result": result.model_dump(mode="json")})
    if config.transcripts is not None:
        swept = collector.sweep(config.transcripts, state.started, state.pricer(), state.run_id)
        state.add_records(swept)
        state.add_warnings(collector.warnings)
    failed = any(
        not result.passed for by_case in collector.results.values() for result in by_case.values()
    )
    state.finish(1 if failed else 0)
    report = collector.reports(state.run_id, state.records, state.runs)[scenario.id]
    name = collector.file_name(scenario.id, 1)
    report.write(out / name)
    remove_stale_reports(out, [name])
    return state, report


def _progress(line: str) -> None:
    print(f"calibrate: {line}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m calibrate`.

    Exit 0 when every case passed, 1 when a case failed, 2 on bad input (a scenario, an
    option, a missing API key), 3 when the run stopped because the agent looks gone.
    """
    parser = argparse.ArgumentParser(
        prog="python -m calibrate", description="Run a calibration scenario without pytest."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run every case of a scenario through an adapter")
    commands.add_parser("schema", help="print the JSON Schema of the file protocol's request.json")
    run.add_argument("scenario", type=Path, help="scenario folder or file (e.g. fixtures/ptp-mock)")
    run.add_argument("--adapter", default="stub", help="stub, cursor or openai (default: stub)")
    run.add_argument(
        "--out",
        type=Path,
        default=Path(OUTPUT_DIR_NAME),
        help=f"output folder (default: {OUTPUT_DIR_NAME})",
    )
    run.add_argument("--adapter-model", dest="model", default=None)
    run.add_argument("--dispatch-dir", type=Path, default=None)
    run.add_argument("--adapter-timeout", dest="timeout_s", type=parse_seconds, default=600.0)
    run.add_argument(
        "--adapter-max-timeouts",
        dest="max_timeouts",
        metavar="N",
        type=parse_count,
        default=DEFAULT_MAX_TIMEOUTS,
        help="stop after N timed-out steps (0: never; default: %(default)s)",
    )
    run.add_argument("--openai-base-url", dest="base_url", default=None)
    run.add_argument("--cost-calibration", dest="ratios_file", type=Path, default=None)
    run.add_argument(
        "--cost-transcripts",
        dest="transcripts",
        type=Path,
        action="append",
        default=None,
        help="agent transcripts whose usage charges each step",
    )
    args = parser.parse_args(argv)
    if args.command == "schema":
        from .protocol import request_schema

        with reader_may_leave():
            print(json.dumps(request_schema(), indent=2, sort_keys=True))
        return EXIT_OK
    timeouts = TimeoutTally(args.max_timeouts)
    try:
        state, report = run_scenario(
            args.scenario,
            adapter=args.adapter,
            output_dir=args.out,
            model=args.model,
            dispatch_dir=args.dispatch_dir,
            timeout_s=args.timeout_s,
            base_url=args.base_url,
            ratios_file=args.ratios_file,
            transcripts=args.transcripts,
            timeouts=timeouts,
            progress=_progress,
        )
    except TokenCostError as exc:
        print(f"calibrate: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    import shutil

    width = max(40, shutil.get_terminal_size((80, 24)).columns)
    sections = [(f"Calibration: {report.scenario}", render_calibration(report))]
    if state.report is not None:
        sections.insert(0, (TITLE, render_report(state.report, width=width)))
    with reader_may_leave():  # the exit status below still says how the cases went
        for title, lines in sections:
            print(f" {title} ".center(width, "="))
            print("\n".join(lines))
        if state.report is None or not state.report.summary.totals.records:
            # every step failed before anything could be counted: say so, not an empty table
            print("No tokens recorded: no step of any case completed.")
    if timeouts.exhausted:
        ran = {result.case_id for result in report.cases}
        not_run = [case.id for case in load_scenario(args.scenario).cases if case.id not in ran]
        folder = args.dispatch_dir or args.out / "dispatch" / report.scenario
        print(f"calibrate: stopped: {timeouts.reason(folder)}", file=sys.stderr)
        print(
            f"calibrate: {len(not_run)} case(s) not run"
            + (f": {', '.join(not_run)}" if not_run else ""),
            file=sys.stderr,
        )
        return EXIT_AGENT_GONE
    return EXIT_OK if report.metrics.passed == report.metrics.cases else EXIT_FAILED
