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


def _html(args: argparse.Namespace) -> int:
    from .html import HTML_NAME, write_page
    from .html.load import page_from_folder

    folder: Path = args.dir
    if not folder.is_dir():
        raise TokenCostError(
            f"no such output folder: {folder} (give the folder holding token-report.json)"
        )
    out: Path = args.out or folder / HTML_NAME
    page = page_from_folder(folder)
    try:
        write_page(out, page)
    except OSError as exc:
        raise TokenCostError(f"cannot write {out}: {exc.strerror or exc}") from exc
    print(f"wrote {out} (run {page.report.run.run_id})")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from .report import report_schema

    print(json.dumps(report_schema(), indent=2, sort_keys=True))
    return 0


def _ratio_command(args: argparse.Namespace) -> str:
    """The command line that writes the same document again (recorded in it)."""
    import shlex

    words = ["tokencost", "ratio"]
    if args.tokenizers is not None:
        words += ["--tokenizers", str(args.tokenizers)]
    else:
        words += [str(args.stub), str(args.wet)]
    words += ["--out", str(args.out)]
    if args.json is not None:
        words += ["--json", str(args.json)]
    if args.allow_estimated:
        words.append("--allow-estimated")
    return shlex.join(words)


def _ratio(args: argparse.Namespace) -> int:
    from calibrate.ratio import compute_ratios, render_markdown, tokenizer_ratios, write_ratios
    from calibrate.report import read_calibration_report

    command = _ratio_command(args)
    if args.tokenizers is not None:
        if args.stub is not None or args.wet is not None:
            raise TokenCostError("give either STUB and WET reports or --tokenizers, not both")
        document = tokenizer_ratios(args.tokenizers, command=command)
        use = "documents the tokenizers; it does not calibrate"
    else:
        if args.stub is None or args.wet is None:
            raise TokenCostError(
                "tokencost ratio needs a STUB and a WET report (or --tokenizers SCENARIO)"
            )
        document = compute_ratios(
            read_calibration_report(args.stub),
            read_calibration_report(args.wet),
            allow_estimated=args.allow_estimated,
            command=command,
        )
        use = f"use: --cost-calibration {args.json or args.out.with_suffix('.json')}"
    json_path = args.json or args.out.with_suffix(".json")
    write_ratios(document, args.out, json_path)
    print(render_markdown(document), end="")
    print(f"\nwrote {args.out} and {json_path} ({use})")
    return 0


INGEST_LABELS = {"test": "session", "case": "day", "step": "source"}


def _transcript_files(paths: Sequence[Path]) -> None:
    """Refuse, before reading anything, paths that do not exist and folders without JSONL."""
    for path in paths:
        if not path.exists():
            raise TokenCostError(f"no such file or folder: {path}")
        if path.is_dir() and next(path.rglob("*.jsonl"), None) is None:
            raise TokenCostError(
                f"no *.jsonl transcript in folder {path} (Claude Code keeps them in "
                "~/.claude/projects, Codex in ~/.codex/sessions)"
            )


def _ingest(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from .genai_table import defer_update_modules
    from .records import Provenance, TokenRecord
    from .render import TITLE, render_report
    from .runfiles import OutputDirError, check_output_dir
    from .session import RunState
    from .settings import Settings
    from .transcripts import read_transcripts, response_ids

    defer_update_modules()  # genai-prices' HTTP client is never used: not loaded
    _transcript_files(args.paths)
    try:
        check_output_dir(args.out.resolve(), "--out")
    except OutputDirError as exc:
        raise TokenCostError(str(exc)) from None
    transcripts = read_transcripts(args.paths)
    if not transcripts.responses and transcripts.problems:
        raise TokenCostError(
            f"no usage could be read from {', '.join(map(str, args.paths))}: "
            f"{transcripts.problems[0]}"
            + (
                f" (and {len(transcripts.problems) - 1} more)"
                if len(transcripts.problems) > 1
                else ""
            )
        )
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
                response_id=response_ids(response)[0],
                request_id=response_ids(response)[1],
                run_id=state.run_id,
            )
        )
    state.add_records(records)
    state.warnings.extend(transcripts.problems)
    notes: list[str] = []
    if transcripts.skipped_synthetic:
        notes.append(
            f"{transcripts.skipped_synthetic} zero-usage <synthetic> line(s) skipped (API errors "
            "Claude Code logged; no request was billed)"
        )
    if transcripts.repeated_responses:
        notes.append(
            f"{transcripts.repeated_responses} response(s) met again in another file (resumed "
            "sessions copy earlier responses) counted once"
        )
    if transcripts.repeated_files:
        notes.append(f"{transcripts.repeated_files} file(s) given more than once read once")
    state.warnings.extend(notes)  # in the report too: what was left out, and why
    report = state.finish(0)
    print(f" {TITLE} ".center(76, "="))
    if report is None:  # nothing recorded (only lines without usage, or skipped ones)
        print(f"0 responses from {len(args.paths)} path(s): no tokens recorded")
        for note in notes:
            print(f"Note: {note}")
        return 0
    print(f"{len(records)} responses from {len(args.paths)} path(s); report in {args.out}")
    for line in render_report(report, labels=INGEST_LABELS):
        print(line)
    if state.write_problems():
        print(f"tokencost: error: {state.write_problems()[-1]}", file=sys.stderr)
        return 2
    if transcripts.problems:
        # The report is written and lists each problem; the exit status says it is incomplete.
        print(
            f"tokencost: error: {len(transcripts.problems)} unreadable input(s) in the "
            f"transcripts (listed above as warnings, and in {args.out}); first: "
            f"{transcripts.problems[0]}",
            file=sys.stderr,
        )
        return 2
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
        "stub",
        type=Path,
        nargs="?",
        help="calibration-report.json of the stub run (or its folder)",
    )
    ratio.add_argument(
        "wet", type=Path, nargs="?", help="calibration-report.json of the wet run (or its folder)"
    )
    ratio.add_argument(
        "--allow-estimated",
        action="store_true",
        help="keep wet samples whose counts are estimates (listed in the document); "
        "without it such a wet run is refused",
    )
    ratio.add_argument(
        "--tokenizers",
        type=Path,
        metavar="SCENARIO",
        default=None,
        help="instead of two runs: the stub's bytes/4 estimates of SCENARIO's prompts and "
        "answers against exact o200k_base and cl100k_base counts (the documentation run)",
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
        "ingest",
        help="token report of Claude Code and Codex transcripts (JSONL files/folders); exit "
        "status 2 when some input could not be read (the report still lists it)",
    )
    ingest.add_argument("paths", type=Path, nargs="+", help="transcript files or folders")
    ingest.add_argument(
        "--out",
        type=Path,
        default=Path(".tokencost") / "ingest",
        help="output folder (default: .tokencost/ingest)",
    )
    ingest.set_defaults(run=_ingest)
    html = commands.add_parser(
        "html", help="write the HTML page of the run saved in an output folder"
    )
    html.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=_DEFAULT_REPORT.parent,
        help=f"output folder holding token-report.json (default: {_DEFAULT_REPORT.parent})",
    )
    html.add_argument(
        "--out", type=Path, default=None, help="page to write (default: DIR/token-report.html)"
    )
    html.set_defaults(run=_html)
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
