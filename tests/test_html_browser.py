"""The HTML cost page in a real browser: headless Chromium loads it from file://.

Chromium is the Debian package `chromium` (`.ci/run` installs it when missing); without it
these tests skip with the reason. The screenshots are kept under the test's tmp path and the
test prints where, for a person to look at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .chromium import Browser, find_chromium
from .htmlpage import EVIL, Page, SuiteRun, suite_run

__all__ = ["suite_run"]  # a fixture, imported for its tests

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium; .ci/run does it)",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium with its own empty profile."""
    assert CHROMIUM is not None
    instance = Browser(CHROMIUM, tmp_path / "profile")
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def page_file(suite_run: SuiteRun) -> Path:
    """The page of a run whose test id and model name hold markup, with a session budget."""
    return suite_run.folder / "token-report.html"


_COLUMN = """
Array.from(document.querySelectorAll('#t-tests tbody tr')).map(
  r => Number(r.cells[%d].textContent.replace(/,/g, '')))
"""


def test_the_page_in_chromium(
    browser: Browser, page_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json.loads((page_file.parent / "token-report.json").read_text())
    totals = report["summary"]["totals"]
    url = page_file.as_uri()
    browser.open(url)
    assert browser.requests() == [url]  # the page itself and nothing else
    assert browser.console_problems() == []
    text = browser.evaluate("document.body.innerText")
    assert f"{totals['usage']['input'] + totals['usage']['output']:,} tokens" in text
    assert f"{totals['usage']['input']:,} in" in text
    # the injected markup is text: shown as written, no element made from it
    assert EVIL in text
    assert browser.evaluate("document.images.length") == 0
    assert browser.evaluate("document.scripts.length") == 1
    assert browser.evaluate("typeof window.alert_called") == "undefined"
    # sorting: the input column, descending then ascending; the header says which
    column = Page(page_file.read_text()).column("t-tests", "input") + 1
    header = f"document.querySelectorAll('#t-tests thead th')[{column}]"
    browser.evaluate(f"{header}.querySelector('button').click()")
    values = browser.evaluate(_COLUMN % column)
    assert values == sorted(values, reverse=True) and len(values) == 6
    assert browser.evaluate(f"{header}.getAttribute('aria-sort')") == "descending"
    browser.evaluate(f"{header}.querySelector('button').click()")
    assert browser.evaluate(_COLUMN % column) == sorted(values)
    assert browser.evaluate(f"{header}.getAttribute('aria-sort')") == "ascending"
    # filtering by name
    browser.evaluate(
        "const i = document.querySelector('.filter[data-for=t-tests] input');"
        "i.value = 'markup'; i.dispatchEvent(new Event('input'))"
    )
    shown = browser.evaluate(
        "Array.from(document.querySelectorAll('#t-tests tbody tr')).filter(r => !r.hidden)"
        ".map(r => r.cells[0].textContent)"
    )
    assert shown == [f"test_suite.py::test_markup[{EVIL}]"]
    browser.evaluate(
        "const j = document.querySelector('.filter[data-for=t-tests] input');"
        "j.value = ''; j.dispatchEvent(new Event('input'))"
    )
    shots = tmp_path / "screenshots"
    shots.mkdir()
    saved = [browser.screenshot(shots / "page-390.png", 390)]
    # no horizontal scrolling of the page itself at phone width (wide tables scroll inside)
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390
    saved.append(browser.screenshot(shots / "page-1280.png", 1280))
    saved.append(browser.screenshot(shots / "page-1280-dark.png", 1280, dark=True))
    saved.append(browser.screenshot(shots / "page-390-dark.png", 390, dark=True))
    for path in saved:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert browser.requests() == [url] and browser.console_problems() == []
    with capsys.disabled():
        print(f"\nHTML page screenshots for review: {shots} ({', '.join(p.name for p in saved)})")


def test_the_page_reads_with_javascript_off(browser: Browser, page_file: Path) -> None:
    report = json.loads((page_file.parent / "token-report.json").read_text())
    total = report["summary"]["totals"]["usage"]
    browser.open(page_file.as_uri(), javascript=False)
    text = browser.evaluate("document.body.innerText")  # the protocol still runs scripts
    assert f"{total['input'] + total['output']:,} tokens" in text
    assert "Per test" in text and EVIL in text
    # the script did not run: no sort buttons, and the filter boxes stay hidden
    assert browser.evaluate("document.querySelectorAll('th button').length") == 0
    assert browser.evaluate("document.querySelector('.filter').hidden") is True
    assert browser.console_problems() == []
