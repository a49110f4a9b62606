"""`tokencost` subcommands that installed packages add (entry point group
`pytest_tokencost.commands`): the harness's `ratio` is one; a broken add-on costs a warning."""

from __future__ import annotations

import argparse
import importlib.metadata
from typing import Any

import pytest

from pytest_tokencost import cli


def register_hello(commands: Any) -> None:
    """An add-on command, loaded through a real entry point naming this function."""
    hello = commands.add_parser("hello", help="say hello")
    hello.add_argument("--name", default="world")
    hello.set_defaults(run=_hello)


def _hello(args: argparse.Namespace) -> int:
    print(f"hello {args.name}")
    return 3


def _with_entry_points(monkeypatch: pytest.MonkeyPatch, *values: tuple[str, str]) -> None:
    """The installed entry points of the group are exactly `values` (name, object reference)."""
    points = importlib.metadata.EntryPoints(
        importlib.metadata.EntryPoint(name, value, cli.COMMANDS_GROUP) for name, value in values
    )

    def entry_points(**selection: str) -> importlib.metadata.EntryPoints:
        assert selection == {"group": cli.COMMANDS_GROUP}
        return points

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


@pytest.mark.harness
def test_the_harness_registers_ratio() -> None:
    found = importlib.metadata.entry_points(group=cli.COMMANDS_GROUP)
    assert [(e.name, e.value) for e in found] == [("ratio", "calibrate.ratio_command:register")]


def test_an_added_command_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_entry_points(monkeypatch, ("hello", f"{__name__}:register_hello"))
    assert cli.main(["hello", "--name", "tokencost"]) == 3
    assert capsys.readouterr().out == "hello tokencost\n"


def test_a_broken_add_on_is_named_and_the_other_commands_still_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_entry_points(
        monkeypatch,
        ("gone", "tokencost_addon_not_installed:register"),
        ("hello", f"{__name__}:register_hello"),
    )
    assert cli.main(["hello"]) == 3
    captured = capsys.readouterr()
    assert captured.out == "hello world\n"
    assert captured.err == (
        "tokencost: warning: command 'gone' (tokencost_addon_not_installed:register) not "
        "loaded: ModuleNotFoundError: No module named 'tokencost_addon_not_installed'\n"
    )
    with pytest.raises(SystemExit) as exc:
        cli.main(["gone"])
    assert exc.value.code == 2  # argparse: an unknown command


def test_a_built_in_command_does_not_look_for_added_ones(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Built-in commands start without importlib.metadata's entry point scan."""
    choices = cli._parser(installed=False)._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(choices) == cli.BUILTIN_COMMANDS  # the list cannot drift from the parser

    def no_scan(**selection: str) -> importlib.metadata.EntryPoints:
        raise AssertionError("entry points scanned for a built-in command")

    monkeypatch.setattr(importlib.metadata, "entry_points", no_scan)
    assert cli.main(["schema"]) == 0
    assert '"title": "pytest-tokencost token-report.json"' in capsys.readouterr().out
