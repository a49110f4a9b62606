"""The `tokencost` console script."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import TokenCostError

__all__ = ["main"]

_DEFAULT_REPORT = Path(".tokencost") / "token-report.json"


def _report(args: argparse.Namespace) -> int:
    from .render import TITLE, render_report
    from .report import read_report

    report = read_report(args.path)
    print(f" {TITLE} ".center(76, "="))
    print(f"Run {report.run.run_id} ({report.run.started:%Y-%m-%d %H:%M:%S} UTC)")
    for line in render_report(report, tables=not args.brief):
        print(line)
    return 0


def _schema(args: argparse.Namespace) -> int:
    from .report import report_schema

    print(json.dumps(report_schema(), indent=2, sort_keys=True))
    return 0


def _ratio(args: argparse.Namespace) -> int:
    from calibrate.ratio import compute_ratios, render_markdown, write_ratios
    from calibrate.report import read_calibration_report

    document = compute_ratios(read_calibration_report(args.stub), read_calibration_report(args.wet))
    json_path = args.json or args.out.with_suffix(".json")
    write_ratios(document, args.out, json_path)
    print(render_markdown(document), end="")
    print(f"\nwrote {args.out} and {json_path} (use: --cost-calibration {json_path})")
    return 0


INGEST_LABELS = {"test": "session", "case": "day", "step": "source"}


def _ingest(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from .records import Provenance, TokenRecord
    from .render import TITLE, render_report
    from .session import RunState
    from .settings import Settings
    from .transcripts import read_transcripts

    transcripts = read_transcripts(args.paths)
    state = RunState(
        Settings(output_dir=args.out.resolve()),
        argv=list(sys.argv),
        pytest_version="(not run under pytest)",
    )
    pricer = state.pricer()
    records = []
    for seq, response in enumerate(transcripts.responses):
        when = response.timestamp or datetime.now(UTC)
        provider = "anthropic" if response.source == "claude-code" else "openai"
        price = pricer.price(response.model, provider, response.usage, when)
        records.append(
            TokenRecord(
                seq=seq,
                test_id=f"{response.source}:{response.session}",
                case_id=response.timestamp.date().isoformat() if response.timestamp else None,
                step=f"{response.source} (subagent)" if response.sidechain else response.source,
                provider=provider,
                model=response.model,
                usage=response.usage,
                provenance=Provenance.REPORTED,
                timestamp=when,
                **price.record_fields(),
                reported_cost_micro_usd=response.reported_cost_micro_usd,
            )
        )
    state.add_records(records)
    state.warnings.extend(transcripts.problems)
    report = state.finish(0)
    assert report is not None
    print(f" {TITLE} ".center(76, "="))
    print(f"{len(records)} responses from {len(args.paths)} path(s); report in {args.out}")
    for line in render_report(report, labels=INGEST_LABELS):
        print(line)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokencost", description="Read the token and cost reports of pytest-tokencost."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report = commands.add_parser("report", help="print the Token & Cost section of a report")
    report.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=_DEFAULT_REPORT,
        help=f"token-report.json to read (default: {_DEFAULT_REPORT})",
    )
    report.add_argument("--brief", action="store_true", help="totals only, no tables")
    report.set_defaults(run=_report)
    ratio = commands.add_parser(
        "ratio", help="compare a stub calibration run with a wet one: real/estimated ratios"
    )
    ratio.add_argument(
        "stub", type=Path, help="calibration-report.json of the stub run (or its folder)"
    )
    ratio.add_argument(
        "wet", type=Path, help="calibration-report.json of the wet run (or its folder)"
    )
    ratio.add_argument(
        "--out",
        type=Path,
        default=Path("token-ratio.md"),
        help="Markdown document to write (default: token-ratio.md)",
    )
    ratio.add_argument(
        "--json",
        type=Path,
        default=None,
        help="ratio file for --cost-calibration (default: --out with .json)",
    )
    ratio.set_defaults(run=_ratio)
    ingest = commands.add_parser(
        "ingest", help="token report of Claude Code and Codex transcripts (JSONL files/folders)"
    )
    ingest.add_argument("paths", type=Path, nargs="+", help="transcript files or folders")
    ingest.add_argument(
        "--out",
        type=Path,
        default=Path(".tokencost") / "ingest",
        help="output folder (default: .tokencost/ingest)",
    )
    ingest.set_defaults(run=_ingest)
    schema = commands.add_parser("schema", help="print the JSON Schema of token-report.json")
    schema.set_defaults(run=_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tokencost`; returns the exit status (2 for unreadable input)."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except TokenCostError as exc:
        print(f"tokencost: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
