"""Replayed calls and model aliases in every report output: the history (sqlite, `tokencost
history`, `tokencost compare`), the Markdown summary and the HTML page.

The suite calls the real openai SDK over an in-memory transport (what respx does for httpx):
every such call is replayed, its recorded usage counted and its cost kept apart from the money
spent. The bodies are the corpus's recorded o3-mini answer (7 input, 87 output tokens), served
under a dated and an undated model name, beside live records of the same models.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_tokencost.history import (
    SCHEMA_VERSION,
    HistoryError,
    HistoryStore,
    read_aggregates,
    read_runs,
    read_test_history,
)
from pytest_tokencost.history_schema import HistoryDocument
from pytest_tokencost.html.charts import trend_chart
from pytest_tokencost.render import format_usd

from .htmlpage import Page, check_page_rows
from .test_combinations import PLAIN, _load, _oracle_micro_usd

SUITE = """
import json, os
import httpx2, openai
from pytest_tokencost import Usage

BODY = json.loads(open(os.environ["PLAIN_BODY"]).read())


def _client(model):
    def handler(request):
        # An in-memory answer, as respx's routes give one: no connection, a replay.
        return httpx2.Response(200, json={**BODY, "model": model})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(base_url="https://api.openai.com/v1", api_key="k", http_client=http,
                         max_retries=0)


def test_dated():
    reply = _client("o3-mini-2025-01-31").chat.completions.create(model="o3-mini", messages=[])
    assert reply.usage.prompt_tokens == 7


def test_mini_dated():
    _client("gpt-4o-mini-2024-07-18").chat.completions.create(model="gpt-4o-mini", messages=[])


def test_mini_undated():
    _client("gpt-4o-mini").chat.completions.create(model="gpt-4o-mini", messages=[])


def test_live(token_tracker):
    token_tracker.record(model="o3-mini", provider="openai", usage=Usage(input=1_000, output=100))
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=2_000, output=50))
"""

# By hand: each replayed call is 7 + 87 = 94 tokens; three of them, 282 tokens. The money spent
# is test_live's two records only; the recorded cost is what the three calls would cost live.
O3_REPLAY = _oracle_micro_usd("o3-mini", 7, 87)
MINI_REPLAY = _oracle_micro_usd("gpt-4o-mini", 7, 87)
RECORDED = O3_REPLAY + 2 * MINI_REPLAY
SPENT = _oracle_micro_usd("o3-mini", 1_000, 100) + _oracle_micro_usd("gpt-4o", 2_000, 50)


def _tokencost(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.run(sys.executable, "-m", "pytest_tokencost.cli", *args)


@pytest.fixture
def suite(
    corpus: Path, plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    (plugin_pytester.path / "plain.json").write_text(json.dumps(_load(corpus, *PLAIN)))
    monkeypatch.setenv("PLAIN_BODY", str(plugin_pytester.path / "plain.json"))
    monkeypatch.setenv("COLUMNS", "200")
    plugin_pytester.makepyfile(test_calls=SUITE)
    return plugin_pytester


def _run(pytester: pytest.Pytester, workers: str, *extra: str) -> pytest.RunResult:
    args = ["--cost-capture", "-p", "no:cacheprovider", "-p", "no:randomly", *extra]
    if workers != "0":
        args += ["-n", workers]
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 0, result.stdout.str()
    return result


@pytest.mark.parametrize("workers", ["0", "2"])
def test_replays_and_aliases_in_the_history_markdown_compare_and_page(
    suite: pytest.Pytester, workers: str
) -> None:
    out = suite.path / ".tokencost"
    _run(suite, workers)
    second = _run(
        suite,
        workers,
        "--cost-compare",
        "--cost-report=term",
        "--cost-report=markdown:summary.md",
        "--cost-report=html",
    )
    report = json.loads((out / "token-report.json").read_text())
    totals = report["summary"]["totals"]
    assert (totals["replayed_records"], totals["replayed_tokens"]) == (3, 282)
    assert (totals["cost_micro_usd"], totals["replayed_cost_micro_usd"]) == (SPENT, RECORDED)

    # The history keeps the recorded cost apart from the money spent, per run and per test.
    runs = read_runs(out)
    assert len(runs) == 2
    for row in runs:
        assert (row.totals.cost_micro_usd, row.totals.replayed_cost_micro_usd) == (SPENT, RECORDED)
        assert (row.totals.replayed_records, row.totals.replayed_tokens) == (3, 282)
    tests = {a.key: a.amounts for a in read_aggregates(out, runs[0].run_id, "test")}
    dated = tests["test_calls.py::test_dated"]
    assert (dated.cost_micro_usd, dated.replayed_cost_micro_usd) == (0, O3_REPLAY)
    assert tests["test_calls.py::test_live"].replayed_records == 0
    (latest, _) = read_test_history(out, "test_calls.py::test_mini_dated")
    assert (latest.amounts.replayed_records, latest.amounts.replayed_cost_micro_usd) == (
        1,
        MINI_REPLAY,
    )

    # tokencost history: a "recorded" column beside the cost; --json says the same.
    shown = _tokencost(suite, "history", "--dir", str(out))
    assert shown.ret == 0, shown.stderr.str()
    header = shown.outlines[0].split()
    assert header[header.index("cost") + 1] == "recorded"
    spent_recorded = rf"{re.escape(format_usd(SPENT))}\s+{re.escape(format_usd(RECORDED))}"
    for line in shown.outlines[2:4]:
        assert re.search(spent_recorded, line), line
    document = json.loads(_tokencost(suite, "history", "--json", "--dir", str(out)).stdout.str())
    HistoryDocument.model_validate(document)
    assert document["runs"][0]["totals"]["replayed_cost_micro_usd"] == RECORDED

    # tokencost compare and the run's own comparison: the recorded cost on its own line.
    recorded = f"{'Recorded:':<9}{format_usd(RECORDED):>12} -> {format_usd(RECORDED):>12}"
    compared = _tokencost(suite, "compare", "--dir", str(out))
    assert [line for line in compared.outlines if line.startswith(recorded)], compared.outlines
    assert [line for line in second.outlines if line.startswith(recorded)]
    # the cost change is split over money spent only: replays are re-priced by neither side
    as_json = json.loads(
        _tokencost(suite, "compare", "--format", "json", "--dir", str(out)).stdout.str()
    )
    split = as_json["price_split"]
    assert (split["base_at_head_prices_micro_usd"], split["method"]) == (SPENT, "records")
    assert (split["from_tokens_micro_usd"], split["from_prices_micro_usd"]) == (0, 0)
    assert as_json["totals"]["head"]["replayed_cost_micro_usd"] == RECORDED
    markdown = (suite.path / "summary.md").read_text()
    assert f"- {recorded}" in markdown
    assert f"**{format_usd(SPENT)} spent (recorded {format_usd(RECORDED)})**" in markdown

    # The page: model rows grouped as the terminal groups them, the names under each row.
    page = Page((out / "token-report.html").read_text())
    check_page_rows(page, report)
    models = page.rows("t-models")
    assert set(models) == {"o3-mini", "gpt-4o-mini", "gpt-4o"}
    names = [a["title"] for _, a in page.tags if a.get("title") and " + " in (a["title"] or "")]
    assert sorted(set(names)) == [
        "gpt-4o-mini + gpt-4o-mini-2024-07-18",
        "o3-mini + o3-mini-2025-01-31",
    ]
    cost = models["gpt-4o-mini"][page.column("t-models", "cost")]
    assert cost[0] == f"{format_usd(0)} (recorded {format_usd(2 * MINI_REPLAY)})"
    assert models["gpt-4o-mini"][page.column("t-models", "calls")][0] == "2"
    second.stdout.fnmatch_lines(["Model names: gpt-4o-mini = gpt-4o-mini + gpt-4o-mini-2024-07-18"])
    # The history table: a recorded column, the same in both runs.
    history = page.rows("t-history")
    column = page.column("t-history", "recorded")
    assert [cells[column][0] for cells in history.values()] == [format_usd(RECORDED)] * 2


def test_a_history_written_before_it_kept_replays_still_reads(tmp_path: Path) -> None:
    """A version-1 history: its runs read with the replayed figures not kept (None, shown as
    "not kept" / "-", never 0); the next run migrates it and keeps its own; a newer file is
    refused by readers with what to do."""
    path = tmp_path / "history.sqlite"
    connection = sqlite3.connect(path)
    from pytest_tokencost.report import history as module

    connection.executescript(module._V1 + "PRAGMA user_version = 1;")
    connection.execute(
        "INSERT INTO runs (run_id, started, finished, wall_s, status, interrupted, argv, workers, "
        "default_rate_unknown, tests, records, input, output, cost_micro_usd, unpriced_records, "
        "gates) VALUES ('old', '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:01+00:00', 1.0, "
        "'passed', 0, '[]', 0, 0, 1, 2, 100, 10, 500, 0, '[]')"
    )
    connection.execute(
        "INSERT INTO aggregates VALUES (1, 'test', 't.py::t', 2, 100, 10, NULL, NULL, NULL, 500, "
        "0, 3.0)"
    )
    connection.commit()
    connection.close()

    (old,) = read_runs(tmp_path)
    assert (old.totals.cost_micro_usd, old.totals.total) == (500, 110)
    assert (old.totals.replayed_records, old.totals.replayed_cost_micro_usd) == (None, None)
    (test,) = read_aggregates(tmp_path, "old", "test")
    assert test.amounts.replayed_records is None and test.amounts.cost_micro_usd == 500

    store, warnings = HistoryStore.open(path)
    store.close()
    assert warnings == []
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    (migrated,) = read_runs(tmp_path)
    assert migrated.totals == old.totals  # kept as it was: not kept, never 0

    with sqlite3.connect(path) as newer:
        newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match=r"newer than this pytest-tokencost reads.*upgrade"):
        read_runs(tmp_path)


def test_history_shows_not_kept_replays_as_a_dash(plugin_pytester: pytest.Pytester) -> None:
    """A history whose older run has no replayed figures: the table's recorded column is
    "-" there (and left out when no run has any)."""
    from pytest_tokencost.history_view import history_table

    def run(run_id: str, replayed: int | None, recorded: int | None) -> dict[str, Any]:
        totals = {"total": 10, "cost_micro_usd": 5, "replayed_records": replayed}
        totals["replayed_cost_micro_usd"] = recorded
        return {
            "run_id": run_id,
            "started": "2025-01-01T00:00:00",
            "git": {"commit": None, "branch": None, "dirty": None},
            "tests": 1,
            "totals": totals,
            "change": None,
            "budget_status": None,
            "status": "passed",
        }

    lines = history_table({"runs": [run("new", 1, 2_000), run("old", None, None)]})
    assert lines[0].split()[-5:] == ["cost", "recorded", "change", "budget", "status"]
    five, two_k = re.escape(format_usd(5)), re.escape(format_usd(2_000))
    assert re.search(rf"^new .*{five}\s+{two_k}\s", lines[2]), lines[2]
    assert re.search(rf"^old .*{five}\s+-\s", lines[3]), lines[3]
    narrow = history_table({"runs": [run("old", None, None)]}, width=40)
    assert "recorded" not in narrow[0]


def test_the_cost_trend_has_axis_labels_and_spans_the_runs_costs() -> None:
    """Three runs at $1.00, $1.05 and $1.02: the y axis spans $1.00 to $1.05 (from $0, the
    5% between them would be a flat line), labelled at both; x labelled at both ends."""
    chart = trend_chart(
        [1_000_000.0, None, 1_050_000.0, 1_020_000.0],
        x_label=("2025-01-01", "this run"),
        y_format=lambda y: format_usd(round(y)),
        y_title="cost (money spent)",
        x_title="runs, oldest to newest (4)",
    )
    assert chart is not None
    (low_y, low), (high_y, high) = chart.y_labels
    assert (low, high) == ("$1.00", "$1.05")
    points = [tuple(map(float, p.split(","))) for p in chart.points.split()]
    assert len(points) == 3  # the unknown cost is skipped, not drawn as $0
    ys = [y for _, y in points]
    assert (max(ys), min(ys)) == (low_y, high_y)  # SVG's y grows downwards
    # the lowest run sits near the bottom of the plot, not half-way up from $0
    assert chart.plot_bottom - low_y < (chart.plot_bottom - chart.plot_top) * 0.2
    assert [label for _, label in chart.x_labels] == ["2025-01-01", "this run"]
    assert trend_chart([None], x_label=("a", "b"), y_format=str, y_title="", x_title="") is None


def test_the_page_draws_the_trend_with_its_axes(suite: pytest.Pytester) -> None:
    _run(suite, "0")
    _run(suite, "0", "--cost-report=html")
    page = Page((suite.path / ".tokencost" / "token-report.html").read_text())
    texts = page.text
    assert "cost (money spent)" in texts and "runs, oldest to newest (2)" in texts
    assert len(page.tags_with_class("ylabel")) == 1  # both runs cost the same: one label
    assert len(page.tags_with_class("xlabel")) == 2
