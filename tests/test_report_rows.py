"""A quieter, truer section: model rows grouped by the model genai-prices matched (dated and
undated aliases of one model in one row, the records keeping their names; the run history and
`tokencost compare` group them alike), and no step table
made of the lone "(no step)" row when the suite used no steps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import genai_prices
import pytest

from pytest_tokencost.cli import main
from pytest_tokencost.history import read_aggregates, read_run

ALIASES = """
from pytest_tokencost import Usage

def test_agent(token_tracker):
    # Providers answer with the dated name; code often asks with the undated one.
    for model in ("claude-sonnet-4-20250514", "claude-sonnet-4"):
        token_tracker.record(model=model, provider="anthropic",
                             usage=Usage(input=1_000, output=100))
    for model in ("gpt-4o-2024-08-06", "gpt-4o"):
        token_tracker.record(model=model, provider="openai", usage=Usage(input=2_000, output=50))
    # An older snapshot with prices of its own is another model, in a row of its own.
    token_tracker.record(model="gpt-4o-2024-05-13", provider="openai",
                         usage=Usage(input=2_000, output=50))
"""


def _oracle(model: str, provider: str, input_tokens: int, output_tokens: int) -> int:
    """genai-prices' price of one request in whole micro-USD (halves away from zero)."""
    price = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        model,
        provider_id=provider,
        genai_request_timestamp=datetime.now(UTC),
    )
    return int((price.total_price * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _report(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / ".tokencost" / "token-report.json").read_text())


def test_aliases_of_one_model_share_a_row(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # every column of the model table
    plugin_pytester.makepyfile(test_aliases=ALIASES)
    result = plugin_pytester.runpytest("--cost-report", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # By hand: Claude Sonnet 4 at $3/$15 per MTok: 1,000 x 3 + 100 x 15 = 4,500 a call;
    # gpt-4o at $2.50/$10: 2,000 x 2.5 + 50 x 10 = 5,500; gpt-4o-2024-05-13 at $5/$15: 10,750.
    sonnet, gpt4o = 4_500, 5_500
    assert _oracle("claude-sonnet-4-20250514", "anthropic", 1_000, 100) == sonnet
    assert _oracle("gpt-4o-2024-08-06", "openai", 2_000, 50) == gpt4o
    assert _oracle("gpt-4o-2024-05-13", "openai", 2_000, 50) == 10_750
    result.stdout.fnmatch_lines(
        [
            "Per model:",
            "model * calls * input * output * cost * priced by",
            "*",
            "claude-sonnet-4-0 * 2 * 2,000 * 200 * $0.00900 * genai-prices",
            "gpt-4o * 2 * 4,000 * 100 * $0.0110 * genai-prices",
            "gpt-4o-2024-05-13 * 1 * 2,000 * 50 * $0.0108 * genai-prices",
            "Model names: claude-sonnet-4-0 = claude-sonnet-4 + claude-sonnet-4-20250514",
            "Model names: gpt-4o = gpt-4o + gpt-4o-2024-08-06",
        ]
    )
    # The records and the JSON breakdown keep the names as the responses had them.
    summary = _report(plugin_pytester)["summary"]
    assert sorted(summary["by_model"]) == [
        "claude-sonnet-4",
        "claude-sonnet-4-20250514",
        "gpt-4o",
        "gpt-4o-2024-05-13",
        "gpt-4o-2024-08-06",
    ]
    assert summary["by_model"]["claude-sonnet-4-20250514"]["cost_micro_usd"] == sonnet
    assert summary["by_model"]["gpt-4o"]["cost_micro_usd"] == gpt4o
    assert summary["model_ids"] == {
        "claude-sonnet-4": "claude-sonnet-4-0",
        "claude-sonnet-4-20250514": "claude-sonnet-4-0",
        "gpt-4o-2024-08-06": "gpt-4o",
    }
    records = (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["model"] for line in records] == [
        "claude-sonnet-4-20250514",
        "claude-sonnet-4",
        "gpt-4o-2024-08-06",
        "gpt-4o",
        "gpt-4o-2024-05-13",
    ]


def test_history_and_compare_count_models_as_the_section_shows_them(
    plugin_pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tokencost compare` (against a history run, and against a saved report re-priced from
    its per-model totals) and the history keep one row per model, as the section has it."""
    plugin_pytester.makepyfile(test_aliases=ALIASES)
    for _ in range(2):
        plugin_pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    folder = plugin_pytester.path / ".tokencost"
    saved = plugin_pytester.path / "saved-report.json"  # no records beside it
    saved.write_text((folder / "token-report.json").read_text())
    models = ["claude-sonnet-4-0", "gpt-4o", "gpt-4o-2024-05-13"]
    for base, method in (("-2", "records"), (str(saved), "per-model totals")):
        capsys.readouterr()
        assert main(["compare", base, "-1", "--format", "json", "--dir", str(folder)]) == 0
        compared = json.loads(capsys.readouterr().out)
        assert sorted(d["key"] for d in compared["models"]) == models
        assert {d["status"] for d in compared["models"]} == {"same"}
        assert compared["price_split"]["method"] == method
        assert compared["price_split"]["from_prices_micro_usd"] == 0
        assert main(["compare", base, "-1", "--dir", str(folder)]) == 0
        assert "Models: no changes (3 unchanged)" in capsys.readouterr().out
    kept = read_aggregates(folder, read_run(folder, "-1").run_id, "model")
    assert sorted(a.key for a in kept) == models
    grouped = {a.key: a.amounts for a in kept}["claude-sonnet-4-0"]
    assert (grouped.records, grouped.input, grouped.cost_micro_usd) == (2, 2_000, 9_000)


@pytest.mark.parametrize("workers", [None, "2"])
def test_aliases_group_the_same_under_xdist(
    plugin_pytester: pytest.Pytester, workers: str | None
) -> None:
    # One alias per test, so that under -n 2 the workers see different names of one model.
    plugin_pytester.makepyfile(
        test_split="""
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.parametrize("model", ["claude-sonnet-4-20250514", "claude-sonnet-4"])
        def test_call(token_tracker, model):
            token_tracker.record(model=model, provider="anthropic",
                                 usage=Usage(input=1_000, output=100))
        """
    )
    args = ["--cost-report", "-p", "no:cacheprovider"] + (["-n", workers] if workers else [])
    result = plugin_pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)
    # The default 80 columns: the row and its names fit.
    result.stdout.fnmatch_lines(
        [
            "claude-sonnet-4-0 * 2,000 * 200 * $0.00900",
            "Model names: claude-sonnet-4-0 = claude-sonnet-4 + claude-sonnet-4-20250514",
        ]
    )
    lines = result.stdout.lines
    section = lines[next(i for i, line in enumerate(lines) if "Token & Cost" in line) :]
    assert all(len(line) <= 80 for line in section), section


def test_no_step_table_when_no_test_used_steps(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        test_plain="""
        from pytest_tokencost import Usage

        def test_a(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=2_000, output=50))
        """
    )
    result = plugin_pytester.runpytest("--cost-report", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    assert "Per model:" in output
    assert "Per step:" not in output and "(no step)" not in output
    # The JSON still accounts for every record in by_step.
    assert _report(plugin_pytester)["summary"]["by_step"]["(no step)"]["records"] == 1


def test_records_outside_steps_beside_steps_have_no_wall_clock(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(
        test_mixed="""
        from pytest_tokencost import Usage

        def test_a(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=2_000, output=50))
            with token_tracker.step("plan"):
                token_tracker.record(model="gpt-4o", usage=Usage(input=1_000, output=50))
        """
    )
    result = plugin_pytester.runpytest("--cost-report", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # (no step): 2,000 x 2.5 + 50 x 10 = 5,500; plan: 1,000 x 2.5 + 50 x 10 = 3,000.
    result.stdout.fnmatch_lines(
        [
            "Per step:",
            "(no step) * 1 * 2,000 * 50 * 2,050 * $0.00550 * -",
            "plan * 1 * 1,000 * 50 * 1,050 * $0.00300 * *s",
        ]
    )


# -- unpriced replayed calls are beside the recorded cost, never the money spent -----------------

REPLAYED_UNPRICED = """
from pytest_tokencost import Usage

def test_live(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=2_000, output=50))

def test_replayed(token_tracker):
    # A cassette replay: a priced model, and one genai-prices has no price for (groq/compound).
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=1_000, output=50),
                         replayed=True)
    for _ in range(2):
        token_tracker.record(model="groq/compound", provider="groq",
                             usage=Usage(input=100, output=10), replayed=True)
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_unpriced_replays_go_with_the_recorded_cost(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str | None
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    plugin_pytester.makepyfile(test_replays=REPLAYED_UNPRICED)
    args = ["--cost-report", "-p", "no:cacheprovider"] + (["-n", workers] if workers else [])
    result = plugin_pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)
    # gpt-4o at $2.50/$10 per MTok: live 2,000 x 2.5 + 50 x 10 = 5,500; replayed 3,000.
    assert _oracle("gpt-4o", "openai", 2_000, 50) == 5_500
    assert _oracle("gpt-4o", "openai", 1_000, 50) == 3_000
    result.stdout.fnmatch_lines(
        [
            "Total: * 3,320 tokens ($0.00550 spent, recorded $0.00300 + 2 not recorded)",
            "Per test avg: * 1,660 tokens ($0.00275 spent)",  # 5,500 / 2 tests
        ]
    )
    out = result.stdout.str()
    assert "not recorded spent" not in out
    # No test opened a step: no step average (each record still counts in by_step).
    assert "Per step avg" not in out
    totals = _report(plugin_pytester)["summary"]["totals"]
    assert (totals["cost_micro_usd"], totals["replayed_cost_micro_usd"]) == (5_500, 3_000)
    assert (totals["replayed_records"], totals["replayed_unpriced_records"]) == (3, 2)
    assert totals["records_by_price_source"]["not-recorded"] == 2
    compound = _report(plugin_pytester)["summary"]["by_model"]["groq/compound"]
    assert (compound["cost_micro_usd"], compound["replayed_cost_micro_usd"]) == (0, None)
    assert compound["replayed_unpriced_records"] == 2
    # The model's row: nothing spent on it; its recorded cost is not known.
    result.stdout.fnmatch_lines(["groq/compound * 200 * 20 * $0.00 (recorded not recorded) *"])


def test_a_step_average_when_a_test_opened_a_step(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile(
        test_steps="""
        from pytest_tokencost import Usage

        def test_a(token_tracker):
            with token_tracker.step("plan"):
                token_tracker.record(model="gpt-4o", usage=Usage(input=1_000, output=50))
            token_tracker.record(model="gpt-4o", usage=Usage(input=2_000, output=50))
        """
    )
    result = plugin_pytester.runpytest("--cost-report", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # Two step runs (the step, and the record outside it): 3,100 tokens, $0.00850, halved.
    result.stdout.fnmatch_lines(["Per step avg: * 1,550 tokens ($0.00425)"])


# -- distinct model names stay distinct in a narrow terminal --------------------------------------

SIMILAR_MODELS = """
from pytest_tokencost import Usage

def test_models(token_tracker):
    # Names that differ only in their middle, beside costs that need a wide cost column.
    for model, provider in (("google/gemini-2.0-flash-001", "openrouter"),
                            ("google/gemini-2.5-flash-001", "openrouter"),
                            ("openai/gpt-4o-mini", "openrouter"),
                            ("openai/gpt-5-mini", "openrouter"),
                            ("groq/compound", "groq")):
        token_tracker.record(model=model, provider=provider, usage=Usage(input=1_000, output=100),
                             replayed=True)
        token_tracker.record(model=model, provider=provider, usage=Usage(input=1_000, output=100))
"""


def test_distinct_model_names_stay_distinct_at_80_columns(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    plugin_pytester.makepyfile(test_similar=SIMILAR_MODELS)
    result = plugin_pytester.runpytest_subprocess("--cost-report", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    lines = result.stdout.lines
    start = lines.index("Per model:")
    table = lines[start + 3 : start + 8]  # after the title, header and rule: one row a model
    assert all(len(line) <= 80 for line in lines[start:]), lines[start:]
    names = [line.split("  ")[0] for line in table]
    assert len(set(names)) == 5, table
    # Every shown name is its model's (whole, or its middle replaced by "...").
    models = sorted(_report(plugin_pytester)["summary"]["by_model"])
    for name in names:
        head, _, tail = name.partition("...")
        assert [m for m in models if m.startswith(head) and m.endswith(tail)], name
