"""Installed distributions' versions, read from their ``.dist-info`` folder names.

`importlib.metadata.version` imports the email parser, zipfile and csv and parses the
distribution's METADATA: about a third of `tokencost ingest`'s start-up on a 20 MB transcript.
An installed distribution's folder is named ``{name}-{version}.dist-info`` (the wheel and
installed-project specifications), so its version is in the name; `version` reads it from the
first `sys.path` folder that has the distribution, as `importlib.metadata` looks there first.
Anything else (an egg, a zip, two ``.dist-info`` folders of one project in one place, a name
that does not parse) is asked of `importlib.metadata`, so the answer is always its answer.
"""

from __future__ import annotations

import os
import re
import sys

__all__ = ["PackageNotFoundError", "version"]

_SEPARATORS = re.compile(r"[-_.]+")


class PackageNotFoundError(LookupError):
    """The distribution is not installed (as `importlib.metadata.PackageNotFoundError`)."""


def _normal(name: str) -> str:
    """A project name as the ``.dist-info`` folder spells it (PEP 503, ``-`` as ``_``)."""
    return _SEPARATORS.sub("_", name).lower()


def _from_folder_names(name: str) -> str | None:
    """The version in the name of the only ``{name}-{version}.dist-info`` folder of the first
    `sys.path` folder that holds the distribution; None when that is not so simple."""
    prefix = _normal(name) + "-"
    for folder in sys.path:
        try:
            entries = os.listdir(folder or ".")
        except OSError:
            continue
        found = [
            entry
            for entry in entries
            if entry.lower().startswith(prefix)
            and entry.endswith((".dist-info", ".egg-info", ".egg"))
        ]
        if not found:
            continue
        if len(found) != 1 or not found[0].endswith(".dist-info"):
            return None
        text = found[0][len(prefix) : -len(".dist-info")]
        return text if text and "-" not in text else None
    return None


def version(name: str) -> str:
    """The installed version of distribution `name` (`importlib.metadata.version`'s answer).

    Raises `PackageNotFoundError` when it is not installed.
    """
    found = _from_folder_names(name)
    if found is not None:
        return found
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        raise PackageNotFoundError(name) from None
