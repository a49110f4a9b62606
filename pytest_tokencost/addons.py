"""What the calibration harness, a distribution of its own, adds to the core: its `tokencost`
command and its pytest options. The core names them only to say, when the harness is not
installed, which distribution to install instead of failing on an unknown word."""

from __future__ import annotations

from collections.abc import Sequence

#: The harness's distribution, its pytest plugin's name and where it is in a clone.
HARNESS_DISTRIBUTION = "pytest-tokencost-calibrate"
HARNESS_PLUGIN = "tokencost-calibrate"

#: Commands other distributions of this project add to `tokencost`.
ADD_ON_COMMANDS = frozenset({"ratio"})

#: The pytest options of the harness's plugin (tests/harness checks the list against it).
HARNESS_OPTIONS = (
    "--adapter",
    "--adapter-model",
    "--adapter-timeout",
    "--adapter-max-timeouts",
    "--dispatch-dir",
    "--openai-base-url",
    "--cost-transcripts",
    "--cost-calibration",
)


def not_installed(what: str) -> str:
    """`what` (a command, an option) comes with the harness, which is not installed."""
    return (
        f"{what} comes with {HARNESS_DISTRIBUTION} (the calibration harness), which is not "
        f"installed: pip install {HARNESS_DISTRIBUTION} (from a clone of the repository: "
        "python -m pip install -e ./harness)"
    )


def harness_option_in(args: Sequence[str]) -> str | None:
    """The first of the harness's options among command-line `args` (``--adapter=stub`` or
    ``--adapter stub``), if any; only what comes before a lone ``--`` counts."""
    for arg in args:
        if arg == "--":
            return None
        name = arg.partition("=")[0]
        if name in HARNESS_OPTIONS:
            return name
    return None
