"""Where a project's reports are, read from its pytest configuration (for the `tokencost` CLI).

pytest finds its configuration by walking up from the current folder to the first
`pytest.ini`, `.pytest.ini`, `pyproject.toml` with a `[tool.pytest.ini_options]` table,
`tox.ini` with a `[pytest]` section or `setup.cfg` with `[tool:pytest]`; that file's folder is
the rootdir, and `tokencost_dir` in it is relative to the rootdir. The same walk here, so that
`tokencost report` finds what `pytest` wrote from anywhere in the project.
"""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

from .runfiles import REPORT_NAME
from .settings import DEFAULT_DIR

__all__ = ["find_pytest_config", "project_output_dir", "project_report_path"]

_INI_SECTIONS = (
    ("pytest.ini", "pytest"),
    (".pytest.ini", "pytest"),
    ("pyproject.toml", None),
    ("tox.ini", "pytest"),
    ("setup.cfg", "tool:pytest"),
)


def _ini_value(path: Path, section: str | None) -> tuple[bool, str | None]:
    """(is a pytest configuration, its tokencost_dir)."""
    try:
        if section is None:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            table = data.get("tool", {}).get("pytest", {})
            if not isinstance(table, dict) or not table:
                return False, None
            options = table.get("ini_options", table)
            value = options.get("tokencost_dir") if isinstance(options, dict) else None
            return True, str(value) if value else None
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
    except (OSError, ValueError, configparser.Error):
        return False, None  # pytest itself reports a broken configuration file
    if not parser.has_section(section):
        # pytest.ini is pytest's configuration even without a [pytest] section
        return path.name in ("pytest.ini", ".pytest.ini"), None
    return True, parser.get(section, "tokencost_dir", fallback=None) or None


def find_pytest_config(start: Path) -> tuple[Path, str | None] | None:
    """The first pytest configuration file from `start` upwards, and its tokencost_dir."""
    for folder in (start, *start.parents):
        for name, section in _INI_SECTIONS:
            candidate = folder / name
            if candidate.is_file():
                found, value = _ini_value(candidate, section)
                if found:
                    return candidate, value
    return None


def project_output_dir(start: Path) -> tuple[Path, str]:
    """The output folder pytest would use from `start`, and where that was decided."""
    found = find_pytest_config(start)
    if found is None:
        return start / DEFAULT_DIR, f"the default {DEFAULT_DIR}; no pytest configuration found"
    config, value = found
    if value:
        return config.parent / value, f"tokencost_dir in {config}"
    return config.parent / DEFAULT_DIR, f"the default {DEFAULT_DIR} beside {config}"


def project_report_path(given: Path | None, start: Path) -> tuple[Path, str]:
    """The report to read: `given` (a report, or a folder holding one), else the project's."""
    if given is not None:
        return (given / REPORT_NAME if given.is_dir() else given), "given"
    folder, where = project_output_dir(start)
    return folder / REPORT_NAME, where
