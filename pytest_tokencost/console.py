"""The `tokencost` command's terminal output: its width, colour, and the Token & Cost section.

A module of its own so that the command (`cli`) and the modules of its subcommands (`ingest`)
both use it, and not each other (no import cycle).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

__all__ = ["print_section", "reader_may_leave", "terminal_width"]


@contextmanager
def reader_may_leave() -> Iterator[None]:
    """Printing to a reader that may leave early (`tokencost report | head`): when it does,
    stop printing quietly, as `cat` does. Python would complain again when it flushes stdout
    at exit, so stdout is pointed at nothing."""
    try:
        yield
    except BrokenPipeError:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def terminal_width() -> int:
    """The terminal's width (`COLUMNS`, else the terminal, else 80), as pytest finds it."""
    import shutil

    return max(40, shutil.get_terminal_size((80, 24)).columns)


def _colour() -> bool:
    """Colour only on a terminal, never with `NO_COLOR`; `FORCE_COLOR` forces it."""
    import os

    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


_ANSI = {"red": "\x1b[31m", "yellow": "\x1b[33m"}


def print_section(lines: Sequence[tuple[str, str | None]], width: int) -> None:
    """Print the Token & Cost title and `lines` (styled ones in colour on a terminal)."""
    from .render import TITLE

    print(f" {TITLE} ".center(width, "="))
    colour = _colour()
    for text, style in lines:
        print(f"{_ANSI[style]}{text}\x1b[0m" if colour and style in _ANSI else text)
