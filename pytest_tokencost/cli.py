"""The `tokencost` console script."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .console import print_section as _print_section
from .console import reader_may_leave
from .console import terminal_width as _width
from .constants import OUTPUT_DIR_NAME
from .errors import TokenCostError

__all__ = ["main"]


def _report(args: argparse.Namespace) -> int:
    from .projectconfig import project_output_dir
    from .render import render_lines
    from .report import read_report
    from .report.rebuild import killed_run, rebuild
    from .runfiles import RECORDS_NAME, REPORT_NAME

    target, where = (args.path, "given") if args.path else project_output_dir(Path.cwd())
    run_dir = killed_run(target)
    rebuilt = f"; rebuilt from {run_dir / RECORDS_NAME}" if run_dir is not None else ""
    if run_dir is not None:
        report = rebuild(run_dir).report
    else:
        path = target / REPORT_NAME if target.is_dir() or args.path is None else target
        if not path.exists():
            raise TokenCostError(
                f"no report at {path} ({where}); run pytest first, or give a report or its folder"
            )
        report = read_report(path)
    width = _width()
    lines = render_lines(report, tables=not args.brief, width=width, top=args.top)
    run = report.run
    head = f"Run {run.run_id} ({run.started:%Y-%m-%d %H:%M:%S} UTC, {run.status}{rebuilt})"
    lines.insert(0, (head, None))
    _print_section(lines, width)
    return 0


def _html(args: argparse.Namespace) -> int:
    from .html import HTML_NAME, write_page
    from .html.load import page_from_folder, page_from_killed_run
    from .report.rebuild import killed_run
    from .runfiles import RECORDS_NAME

    folder = _output_dir(args.dir)
    if not folder.is_dir():
        raise TokenCostError(
            f"no such output folder: {folder} (give the folder holding token-report.json)"
        )
    out: Path = args.out or folder / HTML_NAME
    run_dir = killed_run(folder)
    page = page_from_folder(folder) if run_dir is None else page_from_killed_run(run_dir)
    try:
        write_page(out, page)
    except OSError as exc:
        raise TokenCostError(f"cannot write {out}: {exc.strerror or exc}") from exc
    rebuilt = "" if run_dir is None else f", killed: rebuilt from {run_dir / RECORDS_NAME}"
    print(f"wrote {out} (run {page.report.run.run_id}{rebuilt})")
    return 0


def _combine(args: argparse.Namespace) -> int:
    from .combine import combine
    from .render import render_lines

    result = combine(args.paths, args.out, ["tokencost", "combine", *map(str, args.paths)])
    if not args.no_history:
        from .combine import add_to_history

        for warning in add_to_history(result.report, args.out, Path.cwd()):
            print(f"tokencost: warning: {warning}", file=sys.stderr)
    written, problems = _combined_markdown(result.report, args)
    width = _width()
    runs = len(result.shards)
    records = result.report.summary.totals.records
    head = f"Combined {runs} run(s), {records:,} records, into {args.out}"
    _print_section([(head, None), *render_lines(result.report, width=width)], width)
    for what, path in written:
        print(f"tokencost: {what} written to {path}")
    for problem in [*result.problems, *problems]:
        print(f"tokencost: error: {problem}", file=sys.stderr)
    if result.unreadable:
        for problem in result.unreadable:
            print(f"tokencost: error: left out, unreadable: {problem}", file=sys.stderr)
        print(
            f"tokencost: error: {len(result.unreadable)} input(s) could not be read and are "
            "not in the combined report (nothing was deleted)",
            file=sys.stderr,
        )
        return 2
    return 2 if result.problems or problems else 0


def _combined_markdown(
    report: Any, args: argparse.Namespace
) -> tuple[list[tuple[str, Path]], list[str]]:
    """The combined run's Markdown summary: to --markdown's file, and appended to
    $GITHUB_STEP_SUMMARY when it is set (the combining job's summary), as a pytest run does."""
    import os

    from .ci import append_step_summary, github_summary_path, render_markdown
    from .outdir import atomic_write_text

    targets: list[Path] = []
    if args.markdown is not None:
        targets.append(args.out / "token-report.md" if args.markdown is True else args.markdown)
    summary = None if args.no_github_summary else github_summary_path("auto", os.environ)
    if not targets and summary is None:
        return [], []
    markdown = render_markdown(report)
    written: list[tuple[str, Path]] = []
    problems: list[str] = []
    for path in targets:
        try:
            atomic_write_text(path, markdown)
            written.append(("Markdown summary", path))
        except OSError as exc:
            problems.append(f"cannot write the Markdown summary {path}: {exc.strerror or exc}")
    if summary is not None:
        try:
            append_step_summary(summary, markdown)
            written.append(("GitHub step summary", summary))
        except OSError as exc:
            problems.append(f"cannot append to $GITHUB_STEP_SUMMARY {summary}: {exc}")
    return written, problems


def _schema(args: argparse.Namespace) -> int:
    if args.document == "history":
        from .history_schema import history_schema

        print(json.dumps(history_schema(), indent=2, sort_keys=True))
        return 0
    from .report import report_schema

    print(json.dumps(report_schema(), indent=2, sort_keys=True))
    return 0


def _output_dir(given: Path | None) -> Path:
    """The folder given, else the project's output folder as pytest would find it."""
    from .projectconfig import project_output_dir

    return given if given is not None else project_output_dir(Path.cwd())[0]


def _test_hint(folder: Path, test_id: str) -> str:
    """What to give `--test` instead: the latest run's tests whose node id contains it."""
    from .history import read_aggregates, read_runs

    latest = read_runs(folder, last=1)
    names = (
        sorted(row.key for row in read_aggregates(folder, latest[0].run_id, "test"))
        if latest
        else []
    )
    near = [name for name in names if test_id in name]
    if not near:
        return "(node ids look like tests/test_x.py::test_name)"
    more = f", ... ({len(near)} in all)" if len(near) > 5 else ""
    return f"(the full node id is needed; the latest run has {', '.join(near[:5])}{more})"


def _history(args: argparse.Namespace) -> int:
    """`tokencost history`: runs newest first, or one test across runs."""
    from .history import history_path, read_runs, read_test_history
    from .history_view import history_document, history_table, test_table

    args.dir = _output_dir(args.dir)
    path = history_path(args.dir)
    wanted = None if args.last is None else args.last + 1  # one more: the change of the last
    if args.test is not None:
        test_rows = read_test_history(args.dir, args.test, wanted)
        if not test_rows:
            raise TokenCostError(
                f"test {args.test!r} has no records in the history {path} "
                + _test_hint(args.dir, args.test)
            )
        shown = test_rows[: args.last] if args.last is not None else test_rows
        older = test_rows[len(shown)] if len(test_rows) > len(shown) else None
        document = history_document(path, [], None, args.test, shown, older)
    else:
        rows = read_runs(args.dir, last=wanted)
        runs = rows[: args.last] if args.last is not None else rows
        document = history_document(path, runs, rows[len(runs)] if len(rows) > len(runs) else None)
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    if args.test is not None:
        lines = test_table(document, _width())
    elif not document["runs"]:
        lines = [f"No runs in the history {path} yet."]
    else:
        lines = history_table(document, _width())
    print("\n".join(lines))
    return 0


def _compare(args: argparse.Namespace) -> int:
    """`tokencost compare`: two runs side by side, the cost change split."""
    from .compare import compare, dumps, render_compare, resolve_side
    from .render import TITLE

    args.dir = _output_dir(args.dir)
    base = resolve_side(args.base, args.dir, "base")
    head = resolve_side(args.head, args.dir, "head")
    comparison = compare(base, head)
    if args.format == "json":
        print(dumps(comparison))
        return 0
    title = f"{TITLE}: {args.head} compared with {args.base}"
    width = None if args.format == "markdown" else _width()
    if args.format == "markdown":
        print(f"## {title}\n")
    else:
        print(f" {title} ".center(width or 80, "="))
    print("\n".join(render_compare(comparison, args.format, limit=args.limit, width=width)))
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
    from .ingest import run_ingest

    return run_ingest(args)


def _version() -> str:
    from .versions import PackageNotFoundError, version

    try:
        return version("pytest-tokencost")
    except PackageNotFoundError:
        return "unknown"


def _parser(installed: bool = True) -> argparse.ArgumentParser:
    """The command's parser; `installed`: with the subcommands other packages add."""
    parser = argparse.ArgumentParser(
        prog="tokencost", description="Read the token and cost reports of pytest-tokencost."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report = commands.add_parser("report", help="print the Token & Cost section of a report")
    report.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=None,
        help="token-report.json or an output folder (default: the tokencost_dir of the "
        "project's pytest configuration, else .tokencost)",
    )
    report.add_argument("--brief", action="store_true", help="totals only, no tables")
    report.add_argument(
        "--top", type=int, default=10, metavar="N", help="tests in the top table (default: 10)"
    )
    report.set_defaults(run=_report)
    combine = commands.add_parser(
        "combine",
        help="merge the output folders of sharded runs (CI jobs) into one report; exit status "
        "2 when an input could not be read (it is named, and never deleted)",
    )
    combine.add_argument(
        "paths", type=Path, nargs="+", metavar="DIR", help="output folders (or their reports)"
    )
    combine.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="output folder to write"
    )
    combine.add_argument(
        "--no-history",
        action="store_true",
        help="do not add the combined run to history.sqlite in --out (added by default, as a "
        "pytest run writing there is, so --cost-compare and tokencost history see it)",
    )
    combine.add_argument(
        "--markdown",
        type=Path,
        nargs="?",
        const=True,  # the flag alone: token-report.md in --out (not a str: argparse keeps it)
        default=None,
        metavar="PATH",
        help="also write the combined Markdown summary (default PATH: token-report.md in --out)",
    )
    combine.add_argument(
        "--no-github-summary",
        action="store_true",
        help="do not append the combined summary to $GITHUB_STEP_SUMMARY (appended when it is set)",
    )
    combine.set_defaults(run=_combine)
    if installed:  # `ratio`, from the calibration harness
        _installed_commands(commands)
    ingest = commands.add_parser(
        "ingest",
        help="token report of Claude Code and Codex transcripts (JSONL files/folders); exit "
        "status 2 when some input could not be read (the report still lists it)",
    )
    ingest.add_argument("paths", type=Path, nargs="+", help="transcript files or folders")
    ingest.add_argument(
        "--out",
        type=Path,
        default=Path(OUTPUT_DIR_NAME) / "ingest",
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
        default=None,
        help="output folder holding token-report.json (default: the project's, as pytest "
        "finds it: tokencost_dir, else .tokencost)",
    )
    html.add_argument(
        "--out", type=Path, default=None, help="page to write (default: DIR/token-report.html)"
    )
    html.set_defaults(run=_html)
    _history_parsers(commands)
    schema = commands.add_parser(
        "schema", help="print the JSON Schema of token-report.json (or of history --json)"
    )
    schema.add_argument(
        "document",
        nargs="?",
        choices=("report", "history"),
        default="report",
        help="report: token-report.json (the default); history: tokencost history --json",
    )
    schema.set_defaults(run=_schema)
    return parser


#: The entry point group where installed packages add `tokencost` subcommands: each entry
#: point names a callable that takes the subparsers object and adds its command (whose
#: `run(args) -> int` is set with `set_defaults(run=...)`). The calibration harness adds `ratio`.
COMMANDS_GROUP = "pytest_tokencost.commands"
#: The commands of this package itself.
BUILTIN_COMMANDS = frozenset(
    ("report", "combine", "ingest", "html", "history", "compare", "schema")
)


def _missing_add_on(command: str | None) -> str | None:
    """Why `command` is not there, when it is an add-on command whose package is not installed."""
    from .addons import ADD_ON_COMMANDS, not_installed

    if command not in ADD_ON_COMMANDS:
        return None
    from importlib.metadata import entry_points

    if entry_points(group=COMMANDS_GROUP, name=command):
        return None
    return not_installed(f"`tokencost {command}`")


def _installed_commands(commands: Any) -> None:
    """Add the subcommands that installed packages register in `COMMANDS_GROUP`.

    A package whose command cannot be loaded costs a warning on stderr, not the other commands.
    """
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            entry.load()(commands)
        except Exception as exc:  # a broken add-on must not take the whole command down
            print(
                f"tokencost: warning: command {entry.name!r} ({entry.value}) not loaded: "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def _history_parsers(commands: Any) -> None:
    """The `history` and `compare` commands."""
    history = commands.add_parser(
        "history", help="runs newest first (history.sqlite): tokens, cost, change, budgets"
    )
    history.add_argument(
        "--last", type=_positive, default=20, metavar="N", help="the newest N runs (default: 20)"
    )
    history.add_argument("--all", dest="last", action="store_const", const=None, help="all runs")
    history.add_argument("--json", action="store_true", help="JSON (tokencost schema history)")
    history.add_argument("--test", metavar="NODEID", help="one test's tokens and cost across runs")
    history.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="output folder (default: the project's: tokencost_dir, else .tokencost)",
    )
    history.set_defaults(run=_history)
    compare = commands.add_parser(
        "compare",
        help="compare two runs: per test, step and model; the cost change split into tokens "
        "and prices",
    )
    for name, default in (("base", "-2"), ("head", "-1")):
        compare.add_argument(
            name,
            nargs="?",
            default=default,
            help=f"a run id, a negative index (-1 the latest), a token-report.json or an "
            f"output folder (default: {default})",
        )
    compare.add_argument(
        "--format", choices=("term", "markdown", "json"), default="term", help="default: term"
    )
    compare.add_argument(
        "--limit", type=_positive, default=20, metavar="N", help="rows per table (default: 20)"
    )
    compare.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="output folder (default: the project's: tokencost_dir, else .tokencost)",
    )
    compare.set_defaults(run=_compare)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tokencost`; returns the exit status (2 for unreadable input)."""
    words = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in words if not word.startswith("-")), None)
    missing = _missing_add_on(command)
    if missing is not None:
        print(f"tokencost: error: {missing}", file=sys.stderr)
        return 2
    # A built-in command does not look for the others (importlib.metadata costs a start-up).
    args = _parser(installed=command not in BUILTIN_COMMANDS).parse_args(words)
    try:
        with reader_may_leave():
            return int(args.run(args))
    except TokenCostError as exc:
        print(f"tokencost: error: {exc}", file=sys.stderr)
        return 2
    return 0  # the reader left


if __name__ == "__main__":
    sys.exit(main())
