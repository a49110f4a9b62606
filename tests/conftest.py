"""Shared test fixtures: pytester, the shared corpus, recorded payloads."""

from __future__ import annotations

import os
from pathlib import Path

import genai_prices.data
import jinja2
import pytest
import tabulate
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

import pytest_tokencost.cli
import pytest_tokencost.html.load
import pytest_tokencost.html.view
import pytest_tokencost.item_hooks
import pytest_tokencost.report.render
import pytest_tokencost.session
import pytest_tokencost.tracker

try:  # the core's tests also run in an install without the harness (.ci/run)
    import calibrate.items
    import calibrate.report

    _HARNESS: tuple[object, ...] = (calibrate.report, calibrate.items)
except ModuleNotFoundError:
    _HARNESS = ()

HARNESS_INSTALLED = bool(_HARNESS)
_NO_HARNESS = (
    "needs the calibration harness, which is not installed: "
    "python -m pip install -e ./harness (pytest-tokencost-calibrate)"
)
# The harness's own tests import it at module level: without it they are not collected at all
# (the report header says so); core test files mark their harness tests `harness` (skipped).
collect_ignore = [] if HARNESS_INSTALLED else ["harness"]

pytest_plugins = ["pytester"]

# CI machines and this one are shared: generating inputs may be slow there, which says nothing
# of the code under test. The properties still run their full number of examples.
hypothesis_settings.register_profile(
    "shared-machine", suppress_health_check=[HealthCheck.too_slow], deadline=None
)
hypothesis_settings.load_profile("shared-machine")

# pytester's in-process runs unload every module first imported during a run. The imports above
# keep one copy of the accounting core and its heavy dependencies for the whole test session, so
# classes stay identical across runs and each run does not re-load price data and vocabularies.
_KEEP = (
    genai_prices.data,
    tabulate,
    jinja2,
    pytest_tokencost.cli,
    pytest_tokencost.html.load,
    pytest_tokencost.html.view,
    pytest_tokencost.item_hooks,
    pytest_tokencost.report.render,
    pytest_tokencost.session,
    pytest_tokencost.tracker,
    *_HARNESS,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TOKENCOST_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"


def pytest_report_header() -> str | None:
    """Say when the harness's tests are left out, and why."""
    return None if HARNESS_INSTALLED else f"tests/harness not collected: it {_NO_HARNESS}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the core's tests marked `harness` when the harness is not installed, saying why."""
    if HARNESS_INSTALLED:
        return
    skip = pytest.mark.skip(reason=f"this test {_NO_HARNESS}")
    for item in items:
        if item.get_closest_marker("harness"):
            item.add_marker(skip)


@pytest.fixture
def corpus() -> Path:
    """The recorded provider payloads in ../shared/corpus (skips when it is absent)."""
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}; clone the repo beside ../shared")
    return CORPUS


@pytest.fixture
def plugin_pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester whose runs see the plugin (it loads from the installed entry point)."""
    pytester.makeini("[pytest]\n")
    return pytester


PTP_MOCK = REPO / "fixtures" / "ptp-mock"


def copy_scenario(destination: Path, cases: int | None = None) -> Path:
    """Copy ptp-mock into `destination`, keeping only its first `cases` cases."""
    import shutil

    target = destination / "ptp-mock"
    shutil.copytree(PTP_MOCK, target)
    if cases is not None:
        for extra in sorted((target / "cases").glob("*.toml"))[cases:]:
            extra.unlink()
    return target


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 200-column terminal (pytester's runs and the `tokencost` command read `COLUMNS`), for
    tests that match whole report lines; tests/test_terminal_width.py checks 80 columns."""
    monkeypatch.setenv("COLUMNS", "200")
