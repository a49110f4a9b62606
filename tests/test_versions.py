"""`versions.version` gives `importlib.metadata.version`'s answer for every installed
distribution (it reads ``.dist-info`` folder names instead of parsing METADATA)."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from pytest_tokencost import versions


def test_every_installed_distribution_has_the_metadata_version() -> None:
    names = {dist.metadata["Name"] for dist in importlib.metadata.distributions()}
    assert {"genai-prices", "pytest-tokencost", "pydantic"} <= names
    for name in sorted(names):
        assert versions.version(name) == importlib.metadata.version(name), name


def test_a_missing_distribution_is_package_not_found() -> None:
    with pytest.raises(versions.PackageNotFoundError):
        versions.version("no-such-distribution-anywhere")


def test_two_dist_info_folders_of_one_project_are_left_to_importlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale folder beside the real one: the name alone cannot tell, importlib.metadata
    decides (here: whichever it reads first, as it would anyway)."""
    for version in ("1.0", "2.0"):
        info = tmp_path / f"stale_project-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: stale-project\nVersion: {version}\n"
        )
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert versions._from_folder_names("stale-project") is None
    assert versions.version("Stale.Project") == importlib.metadata.version("stale-project")
