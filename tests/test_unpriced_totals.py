"""A run mixing priced and unpriced records: the input and output lines of the Token & Cost
section, of the Markdown summary and the total on the HTML page say what their dollar figure
leaves out ("+ N not recorded"), as the Total line does; with nothing priced, "not recorded";
beside replayed calls, the money spent is called so."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import genai_prices
import pytest

from .htmlpage import Page

# gpt-4o is priced by genai-prices; "in-house-7b" has no known price (two records of it).
SUITE = """
from pytest_tokencost import Usage

def test_priced(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=1_000, output=100))

def test_unpriced_a(token_tracker):
    token_tracker.record(model="in-house-7b", usage=Usage(input=1_000, output=100))

def test_unpriced_b(token_tracker):
    token_tracker.record(model="in-house-7b", usage=Usage(input=1_000, output=100))

def test_replayed(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=1_000, output=100),
                         replayed=True)

def test_replayed_unpriced(token_tracker):
    token_tracker.record(model="in-house-7b", usage=Usage(input=1_000, output=100), replayed=True)
"""


def _micro(price: Decimal) -> int:
    return int((price * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _gpt_4o_micro_usd() -> tuple[int, int]:
    """genai-prices' input and output price of 1,000 input and 100 output tokens of gpt-4o."""
    calc = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1_000, output_tokens=100), "gpt-4o", provider_id="openai"
    )
    return _micro(calc.input_price), _micro(calc.output_price)


def _run(pytester: pytest.Pytester, select: str, *args: str) -> tuple[str, str, Page]:
    """The run's output (white space squeezed: a long line wraps), Markdown summary and HTML
    page."""
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(
        "-p",
        "no:randomly",
        "-k",
        select,
        "--cost-report=term",
        "--cost-report=markdown:out/cost.md",
        "--cost-report=html:out/cost.html",
        *args,
    )
    assert result.ret == 0, result.stdout.str()
    text = " ".join(result.stdout.str().split())
    markdown = (pytester.path / "out" / "cost.md").read_text()
    page = Page((pytester.path / "out" / "cost.html").read_text(encoding="utf-8"))
    return text, markdown, page


@pytest.mark.parametrize("workers", ["0", "2"], ids=["serial", "xdist"])
def test_input_and_output_lines_say_what_is_not_recorded(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    assert _gpt_4o_micro_usd() == (2_500, 1_000)  # $2.50 / $10 per MTok
    text, markdown, page = _run(plugin_pytester, "not replayed", "-n", workers)
    # 3,000 input tokens, 1,000 of them priced ($0.00250); 300 output, 100 priced ($0.00100).
    for line in (
        "Total prompts: 3,000 tokens ($0.00250 + 2 not recorded)",
        "Total artifacts: 300 tokens ($0.00100 + 2 not recorded)",
        "Total: 3,300 tokens ($0.00350 + 2 not recorded)",
        "Per test avg: 1,100 tokens ($0.00117 + not recorded)",  # 3,500 / 3 tests
    ):
        assert line in text, text
    assert "| Input (prompts) | 3,000 | $0.00250 + 2 not recorded |" in markdown, markdown
    assert "| Output (artifacts) | 300 | $0.00100 + 2 not recorded |" in markdown, markdown
    assert "| **Total** | **3,300** | **$0.00350 + 2 not recorded** |" in markdown, markdown
    # The page's cost card: the total, with what it leaves out (it has no input/output cost).
    card = "This run $0.00350 + 2 not recorded 3,300 tokens (3,000 in, 300 out)"
    assert card in page.text, page.text


def test_with_nothing_priced_every_line_is_not_recorded(
    plugin_pytester: pytest.Pytester,
) -> None:
    text, markdown, page = _run(plugin_pytester, "unpriced and not replayed")
    for line in (
        "Total prompts: 2,000 tokens (not recorded)",
        "Total artifacts: 200 tokens (not recorded)",
        "Total: 2,200 tokens (not recorded)",
    ):
        assert line in text, text
    assert "$0.00" not in markdown and "| Input (prompts) | 2,000 | not recorded |" in markdown
    assert "| Output (artifacts) | 200 | not recorded |" in markdown, markdown
    assert "This run not recorded 2,200 tokens (2,000 in, 200 out)" in page.text, page.text


def test_beside_replayed_calls_the_unpriced_live_ones_are_left_out_of_the_money_spent(
    plugin_pytester: pytest.Pytester,
) -> None:
    """A replayed gpt-4o call (recorded cost $0.00350, not spent), a replayed unpriced call and
    a live unpriced one: nothing priced was spent, the live call the money spent leaves out is
    named, and the replayed unpriced one goes with the recorded cost."""
    text, markdown, page = _run(plugin_pytester, "replayed or unpriced_a")
    for line in (
        "Total prompts: 3,000 tokens ($0.00 + 1 not recorded spent)",
        "Total artifacts: 300 tokens ($0.00 + 1 not recorded spent)",
        "Total: 3,300 tokens ($0.00 + 1 not recorded spent, recorded $0.00350 + 1 not recorded)",
    ):
        assert line in text, text
    assert "| Input (prompts) | 3,000 | $0.00 + 1 not recorded spent |" in markdown, markdown
    assert "| Output (artifacts) | 300 | $0.00 + 1 not recorded spent |" in markdown, markdown
    recorded = "recorded $0.00350 + 1 not recorded"
    assert f"| **Total** | **3,300** | **$0.00 + 1 not recorded spent ({recorded})** |" in markdown
    card = f"This run $0.00 + 1 not recorded ({recorded}) 3,300 tokens"
    assert card in page.text, page.text
