"""`tokencost ratio`: the calibration harness's subcommand of the `tokencost` command.

The `tokencost` command (`pytest_tokencost.cli`) finds it through the entry point group
`pytest_tokencost.commands` (see pyproject.toml), so the core never imports the harness. This
module is loaded at every `tokencost` start: it imports only argparse; the ratio code is
imported when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add the `ratio` command to the `tokencost` command's subparsers (`commands`)."""
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
    ratio.set_defaults(run=run)


def _command_line(args: argparse.Namespace) -> str:
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


def run(args: argparse.Namespace) -> int:
    """Write the ratio document (Markdown and JSON) and print it; raises `TokenCostError`
    (the `tokencost` command prints it and exits with status 2) on bad input."""
    from pytest_tokencost.errors import TokenCostError

    from .ratio import compute_ratios, render_markdown, tokenizer_ratios, write_ratios
    from .report import read_calibration_report

    command = _command_line(args)
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
