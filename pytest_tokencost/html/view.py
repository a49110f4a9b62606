"""From a `PageInput` to what the template shows: formatted figures, rows, gauges, charts.

Money stays integer micro-USD until it is formatted here; "not recorded" wherever a price is
unknown, never $0.00. Every string is escaped by the template (autoescaping), not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..budget import Channel, Status
from ..constants import DEFAULT_WARN_AT
from ..records import PriceSource, Provenance, TokenRecord
from ..report import BudgetEntry, TokenReport
from ..report.render import (
    format_duration,
    format_usd,
    recorded_text,
    spent_text,
    wall_clock_text,
)
from ..summary import OUTSIDE_TESTS, TokenTotals
from .cache import CacheRow, cache_rows
from .charts import Chart, Marker, Trend, line_chart, sparkline, trend_chart
from .model import PageInput, PastRun

__all__ = ["Cell", "Row", "Table", "build_view"]

#: Rows of the cache table per test and gauges shown; the rest are counted, not dropped.
TOP_CACHE_TESTS = 50
TOP_GAUGES = 12
TOP_TEST_TRENDS = 10
MAX_MARKERS = 6
_PROVENANCE_ORDER = list(Provenance)


@dataclass(frozen=True, slots=True)
class Cell:
    """One table cell: its text, and the value it sorts by when that is not the text."""

    text: str
    sort: str | None = None
    sub: str | None = None  # a second, smaller line (the 1-hour part of cache writes)
    left: bool = False  # text, not a figure: aligned left


@dataclass(frozen=True, slots=True)
class Row:
    """A table row: a name, cells, and provenance badges (kind, tooltip)."""

    name: str
    cells: Sequence[Cell]
    badges: Sequence[tuple[str, str]] = ()
    names: str | None = None  # the names a row stands for (a model's aliases), under its name


@dataclass(frozen=True, slots=True)
class Table:
    """A sortable, filterable table."""

    id: str
    caption: str
    headers: Sequence[str]
    rows: Sequence[Row]
    numeric: Sequence[bool]
    badges: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Gauge:
    """One budget channel drawn as a gauge."""

    scope: str
    channel: str
    status: str
    fill: float
    warn_at: float
    used: str
    limit: str
    remaining: str
    percent: str


@dataclass(slots=True)
class View:
    """Everything the template needs."""

    title: str
    run: dict[str, Any]
    cards: list[dict[str, Any]]
    gauges: list[Gauge]
    gauges_more: int
    budget_table: Table | None
    warn_at: float
    warn_text: str
    warn_at_said: bool
    chart: Chart | None
    chart_note: str
    history: dict[str, Any] | None
    routing: list[dict[str, Any]]
    tables: list[Table]
    cache_tables: list[Table]
    comparison: dict[str, Any] | None
    calibration: list[dict[str, Any]]
    unpriced: list[str]
    notes: list[str] = field(default_factory=list)


def percent_text(fraction: float) -> str:
    """``80%``, ``82.5%``: a budget's warn line as the page says it."""
    return f"{round(fraction * 100, 1):g}%"


def _int(value: int | None) -> Cell:
    # The page's script sorts "12,345" by its text: no second copy of the number is needed.
    return Cell("-") if value is None else Cell(f"{value:,}")


def cost_cell(totals: TokenTotals) -> Cell:
    """A group's cost: "not recorded" when nothing was priced, and says what was left out."""
    cost = totals.cost_micro_usd
    if totals.records == 0:
        return Cell("-", "")
    if cost is None:
        return Cell("not recorded", "")
    # Worded as the section's: unpriced replayed calls go with the recorded cost, not the spent.
    text = spent_text(totals, cost)
    if totals.replayed_records:  # beside the money spent, never in it (and not in the sort)
        text += f" (recorded {recorded_text(totals)})"
    return Cell(text, str(cost))


def _badges(mix: Mapping[Provenance, int]) -> list[tuple[str, str]]:
    present = [(kind, mix[kind]) for kind in _PROVENANCE_ORDER if mix.get(kind)]
    present.sort(key=lambda item: -item[1])
    return [(kind.value, f"{count:,} tokens {kind.value}") for kind, count in present]


def _mix_text(mix: Mapping[Provenance, int]) -> str:
    parts = [f"{mix[k]:,} {k.value}" for k in _PROVENANCE_ORDER if mix.get(k)]
    return ", ".join(parts) or "no tokens"


_BREAKDOWN_HEADERS = (
    "calls",
    "input",
    "cache read",
    "cache write",
    "output",
    "reasoning",
    "total",
    "cost",
)


def _ordered(groups: Mapping[str, TokenTotals]) -> list[tuple[str, TokenTotals]]:
    """Costliest first (not recorded last), then most tokens, then by name."""
    return sorted(
        groups.items(),
        key=lambda item: (-(item[1].cost_micro_usd or -1), -item[1].usage.total, item[0]),
    )


def _breakdown_row(name: str, t: TokenTotals, names: str | None = None) -> Row:
    u = t.usage
    write = _int(u.cache_write)
    if u.cache_write_1h:
        write = Cell(write.text, write.sort, f"1h {u.cache_write_1h:,}")
    cells = [
        Cell(f"{t.records:,}"),
        _int(u.input),
        _int(u.cache_read),
        write,
        _int(u.output),
        _int(u.reasoning),
        _int(u.total),
        cost_cell(t),
    ]
    return Row(name, cells, _badges(t.tokens_by_provenance), names)


def alias_text(names: Sequence[str]) -> str:
    """The names one model row stands for: ``claude-sonnet-4 + claude-sonnet-4-20250514``."""
    return " + ".join(names)


def _breakdown(
    table_id: str,
    caption: str,
    label: str,
    groups: Mapping[str, TokenTotals],
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> Table:
    names = aliases or {}
    rows = [
        _breakdown_row(name, t, alias_text(names[name]) if name in names else None)
        for name, t in _ordered(groups)
    ]
    return Table(
        table_id,
        caption,
        [label, *_BREAKDOWN_HEADERS, "counts"],
        rows,
        [False, *([True] * len(_BREAKDOWN_HEADERS)), False],
        badges=True,
    )


def _amount(channel: Channel, value: int) -> str:
    return format_usd(value) if channel is Channel.MICRO_USD else f"{value:,} {channel.value}"


def _gauge(entry: BudgetEntry, warn_at: float) -> Gauge:
    return Gauge(
        scope=entry.scope,
        channel="USD" if entry.channel is Channel.MICRO_USD else entry.channel.value,
        status=entry.status.value,
        fill=min(max(entry.percent, 0.0), 100.0),
        warn_at=warn_at * 100,
        used=_amount(entry.channel, entry.used),
        limit=_amount(entry.channel, entry.limit),
        remaining=_amount(entry.channel, entry.remaining),
        percent=f"{entry.percent:g}%",
    )


def _gauges(report: TokenReport, warn_at: float) -> tuple[list[Gauge], int, Table | None]:
    budgets = report.budgets
    order = {Status.EXCEEDED: 0, Status.WARN: 1, Status.OK: 2}
    ranked = sorted(
        budgets,
        key=lambda e: (e.scope != "session", order.get(e.status, 3), -e.percent, e.scope),
    )
    gauges = [_gauge(entry, warn_at) for entry in ranked[:TOP_GAUGES]]
    table = None
    if len(budgets) > TOP_GAUGES:
        table = Table(
            "t-budgets",
            "Every budget",
            ["budget", "channel", "limit", "used", "remaining", "used %", "status"],
            [
                Row(
                    e.scope,
                    [
                        Cell(g.channel, left=True),
                        Cell(g.limit, str(e.limit)),
                        Cell(g.used, str(e.used)),
                        Cell(g.remaining, str(e.remaining)),
                        Cell(g.percent, str(e.percent)),
                        Cell(g.status, left=True),
                    ],
                )
                for e in ranked
                for g in [_gauge(e, warn_at)]
            ],
            [False, False, True, True, True, True, False],
        )
    return gauges, max(len(budgets) - TOP_GAUGES, 0), table


def _scope_records(
    records: Sequence[TokenRecord], entry: BudgetEntry
) -> Sequence[TokenRecord] | None:
    """The records a budget was charged with, in time order; None for scopes not drawn."""
    if entry.scope == "session":
        return records
    if entry.test_id is None or entry.status is Status.OK:
        return None

    def mine(record: TokenRecord) -> bool:
        return record.test_id == entry.test_id and (
            entry.attempt is None or record.attempt == entry.attempt
        )

    if entry.scope == f"test {entry.test_id}":
        return [r for r in records if mine(r)]
    if entry.scope.startswith("step "):
        step = entry.scope[len("step ") :]
        return [r for r in records if mine(r) and r.step == step]
    return None


def _crossings(
    records: Sequence[TokenRecord], t0: datetime, budgets: Iterable[BudgetEntry], warn_at: float
) -> list[Marker]:
    """Where the session's (and each test's or step's) spend first reached its warn line."""
    markers: list[Marker] = []
    for entry in budgets:
        mine = _scope_records(records, entry)
        if mine is None:
            continue
        line = warn_at * entry.limit
        spent = 0
        for record in mine:
            spent += _channel_amount(record, entry.channel)
            if spent >= line:
                where = entry.scope
                if entry.attempt and entry.attempt > 1:
                    where += f" (attempt {entry.attempt})"
                limit = _amount(entry.channel, entry.limit)
                at = (record.timestamp - t0).total_seconds()
                markers.append(Marker(at, f"{where}: {percent_text(warn_at)} of {limit}"))
                break
        if len(markers) >= MAX_MARKERS:
            break
    return markers


def _channel_amount(record: TokenRecord, channel: Channel) -> int:
    usage = record.usage
    if channel is Channel.MICRO_USD:
        return record.cost_micro_usd or 0
    if channel is Channel.INPUT:
        return usage.input
    if channel is Channel.OUTPUT:
        return usage.output
    return usage.total


def _chart(
    records: Sequence[TokenRecord], report: TokenReport, warn_at: float
) -> tuple[Chart | None, str]:
    ordered = sorted(records, key=lambda r: (r.timestamp, r.test_id or "", r.seq))
    if not ordered:
        return None, "No records: nothing to draw."
    t0 = ordered[0].timestamp
    xs: list[float] = []
    ys: list[float] = []
    total = 0
    unpriced = replayed = 0
    for record in ordered:
        if record.replayed:  # not money spent: the line is the run's spending
            replayed += 1
        elif record.cost_micro_usd is None:
            unpriced += 1
        else:
            total += record.cost_micro_usd
        xs.append((record.timestamp - t0).total_seconds())
        ys.append(float(total))
    hline = None
    for entry in report.budgets:
        if entry.scope == "session" and entry.channel is Channel.MICRO_USD:
            hline = (warn_at * entry.limit, f"warn line {format_usd(round(warn_at * entry.limit))}")
    span = xs[-1] if xs else 0.0
    chart = line_chart(
        xs,
        ys,
        x_label=(f"{t0:%H:%M:%S} UTC", f"+{format_duration(span)}"),
        y_format=lambda y: format_usd(round(y)),
        hline=hline,
        markers=_crossings(ordered, t0, report.budgets, warn_at),
    )
    note = f"{len(ordered):,} records in time order; cumulative cost {format_usd(total)}"
    if unpriced:
        note += f"; {unpriced:,} record(s) with no known price are not in the line"
    if replayed:
        note += f"; {replayed:,} replayed record(s) (recorded cost, not spent) are not in the line"
    return chart, note


def _run_card(report: TokenReport) -> dict[str, Any]:
    totals = report.summary.totals
    tests = [name for name in report.summary.by_test if name != OUTSIDE_TESTS]
    replayed = (
        [
            f"{totals.replayed_records:,} replayed call(s): recorded cost "
            f"{format_usd(totals.replayed_cost_micro_usd)}, not spent"
        ]
        if totals.replayed_records
        else []
    )
    return {
        "title": "This run",
        "value": cost_cell(totals).text if totals.records else "no tokens recorded",
        "lines": [
            f"{totals.usage.total:,} tokens ({totals.usage.input:,} in, "
            f"{totals.usage.output:,} out)",
            f"{len(tests):,} test(s) with records, {totals.records:,} record(s)",
            f"wall clock {wall_clock_text(report)}",
            f"counts: {_mix_text(totals.tokens_by_provenance)}",
            *replayed,
        ],
        "status": "estimates" if totals.includes_estimates else None,
    }


def _project_card(report: TokenReport, history: Sequence[PastRun] | None) -> dict[str, Any]:
    totals = report.summary.totals
    if not history:
        return {
            "title": "Project total",
            "value": cost_cell(totals).text if totals.records else "-",
            "lines": ["no history yet: this run only"],
            "status": None,
        }
    known = [run.cost_micro_usd for run in history]
    priced = [c for c in known if c is not None]
    project = sum(priced) + (totals.cost_micro_usd or 0)
    missing = len(known) - len(priced) + (totals.cost_micro_usd is None)
    tokens = sum(run.tokens for run in history) + totals.usage.total
    lines = [f"{len(history) + 1} runs, {tokens:,} tokens"]
    if missing:
        lines.append(f"{missing} run(s) with cost not recorded are not in the sum")
    return {"title": "Project total", "value": format_usd(project), "lines": lines, "status": None}


def _budget_card(report: TokenReport, warn_at: float) -> dict[str, Any]:
    if not report.budgets:
        return {
            "title": "Budget",
            "value": "no cap set",
            "lines": [
                "--cost-budget-usd, --cost-budget-tokens or @pytest.mark.token_budget set one"
            ],
            "status": None,
        }
    # the first of the fullest, as a strict "greater than" scan finds it
    worst = max(report.budgets, key=lambda entry: entry.percent)
    statuses = [e.status for e in report.budgets]
    return {
        "title": "Budget",
        "value": worst.status.value,
        "status": worst.status.value,
        "lines": [
            f"{len(statuses)} budget channel(s): {statuses.count(Status.EXCEEDED)} "
            f"exceeded, {statuses.count(Status.WARN)} warn",
            f"highest: {worst.scope} at {worst.percent:g}% of "
            f"{_amount(worst.channel, worst.limit)}",
            f"warns at {percent_text(warn_at)}, hard-stops at 100%",
        ],
    }


def _cards(
    report: TokenReport, history: Sequence[PastRun] | None, warn_at: float
) -> list[dict[str, Any]]:
    return [
        _run_card(report),
        _project_card(report, history),
        _budget_card(report, warn_at),
    ]


def _current_run(input_: PageInput) -> PastRun:
    """This run as a row of the history table."""
    report = input_.report
    totals = report.summary.totals
    this = input_.this_run
    return PastRun(
        run_id=report.run.run_id,
        started=report.run.started,
        tests=len([n for n in report.summary.by_test if n != OUTSIDE_TESTS]),
        tokens=totals.usage.total,
        cost_micro_usd=totals.cost_micro_usd,
        commit=this.commit if this else None,
        branch=this.branch if this else None,
        status=report.run.status,
        test_costs={n: t.cost_micro_usd for n, t in report.summary.by_test.items()},
        replayed_records=totals.replayed_records,
        recorded_micro_usd=totals.replayed_cost_micro_usd,
    )


def _change(cost: int | None, previous: int | None) -> str:
    """A run's cost against the last earlier run whose cost is known."""
    if previous is None or cost is None:
        return "-"
    delta = cost - previous
    change = ("+" if delta > 0 else "") + format_usd(delta)
    return change + (f" ({delta / previous:+.0%})" if previous else "")


def _recorded(run: PastRun) -> str:
    """What a run's replayed calls would cost live: "-" without any, "not kept" for a run the
    history kept before it recorded replays."""
    if run.replayed_records is None:
        return "not kept"
    return format_usd(run.recorded_micro_usd) if run.replayed_records else "-"


def _history_row(run: PastRun, previous: int | None, current: bool) -> dict[str, Any]:
    return {
        "when": f"{run.started:%Y-%m-%d %H:%M}",
        "run_id": run.run_id,
        "commit": (run.commit or "-")[:12],
        "branch": run.branch or "-",
        "tests": f"{run.tests:,}",
        "tokens": f"{run.tokens:,}",
        "cost": format_usd(run.cost_micro_usd),
        "cost_sort": "" if run.cost_micro_usd is None else str(run.cost_micro_usd),
        "recorded": _recorded(run),
        "change": _change(run.cost_micro_usd, previous),
        "current": current,
    }


def _test_trends(report: TokenReport, runs: Sequence[PastRun]) -> list[dict[str, Any]]:
    """The costliest tests' cost in each run, oldest first."""
    by_test = report.summary.by_test.items()
    top = sorted(by_test, key=lambda i: -(i[1].cost_micro_usd or 0))[:TOP_TEST_TRENDS]
    trends = []
    for name, _ in top:
        values = [run.test_costs.get(name) for run in runs]
        floats = [None if v is None else float(v) for v in values]
        trends.append(
            {
                "name": name,
                "points": sparkline(floats),
                "values": ", ".join(format_usd(v) if v is not None else "-" for v in values),
            }
        )
    return trends


def _cost_trend(runs: Sequence[PastRun]) -> Trend | None:
    costs = [None if r.cost_micro_usd is None else float(r.cost_micro_usd) for r in runs]
    first = f"{runs[0].started:%Y-%m-%d}"
    return trend_chart(
        costs,
        x_label=(first, "this run"),
        y_format=lambda y: format_usd(round(y)),
        y_title="cost (money spent)",
        x_title=f"runs, oldest to newest ({len(runs)})",
    )


def _history(input_: PageInput) -> dict[str, Any] | None:
    history = input_.history
    if not history:
        return None
    current = _current_run(input_)
    runs = [*history, current]
    rows = []
    previous: int | None = None
    for run in runs:
        rows.append(_history_row(run, previous, run is current))
        if run.cost_micro_usd is not None:
            previous = run.cost_micro_usd
    return {
        "rows": rows[::-1],
        "trend": _cost_trend(runs),
        "tests": _test_trends(input_.report, runs),
        "recorded": any(run.replayed_records for run in runs),
    }


def _routing(report: TokenReport) -> list[dict[str, Any]]:
    """One bar per model, the names of one model (dated and undated aliases) together under
    its genai-prices id, as the terminal's "Per model" table has them."""
    models, aliases = report.summary.rows_by_model_id()
    top = max((t.cost_micro_usd or 0 for t in models.values()), default=0) or 1
    top_tokens = max((t.usage.total for t in models.values()), default=0) or 1
    total_cost = report.summary.totals.cost_micro_usd or 0
    return [
        {
            "name": name,
            "names": alias_text(aliases[name]) if name in aliases else None,
            "cost": cost_cell(t).text,
            "share": f"{(t.cost_micro_usd or 0) / total_cost:.0%}"
            if total_cost and t.cost_micro_usd is not None
            else "",
            "width": round(100 * (t.cost_micro_usd or 0) / top, 1),
            "token_width": round(100 * t.usage.total / top_tokens, 1),
            "unpriced": t.cost_micro_usd is None,
            "calls": f"{t.records:,}",
            "tokens": f"{t.usage.total:,}",
            "sources": ", ".join(s.value for s in t.records_by_price_source),
        }
        for name, t in _ordered(models)
    ]


def _cache_table(
    table_id: str, caption: str, label: str, rows: list[CacheRow], limit: int | None
) -> Table:
    shown = rows[:limit] if limit else rows
    note = None
    if limit and len(rows) > limit:
        note = f"the {limit} of {len(rows):,} with the largest savings"
    out = []
    for row in shown:
        saved = "not recorded" if row.saved_micro_usd is None else format_usd(row.saved_micro_usd)
        if row.saved_micro_usd is not None and row.unpriced:
            saved += f" + {row.unpriced} not recorded"
        rate = row.hit_rate
        out.append(
            Row(
                row.name,
                [
                    _int(row.input),
                    _int(row.cache_read),
                    _int(row.cache_write),
                    Cell(
                        "-" if rate is None else f"{rate:.0%}",
                        "" if rate is None else f"{rate:.4f}",
                    ),
                    Cell(saved, "" if row.saved_micro_usd is None else str(row.saved_micro_usd)),
                ],
            )
        )
    return Table(
        table_id,
        caption,
        [label, "input", "cache read", "cache write", "hit rate", "saved"],
        out,
        [False, True, True, True, True, True],
        note=note,
    )


def _comparison(input_: PageInput) -> dict[str, Any] | None:
    comparison = input_.comparison
    if comparison is None:
        return None
    rows = []
    for row in comparison.rows:
        delta = None
        if row.baseline_micro_usd is not None and row.current_micro_usd is not None:
            delta = row.current_micro_usd - row.baseline_micro_usd
        rel = ""
        if delta is not None and row.baseline_micro_usd:
            rel = f" ({delta / row.baseline_micro_usd:+.0%})"
        rows.append(
            {
                "kind": row.kind,
                "name": row.name,
                "baseline": format_usd(row.baseline_micro_usd),
                "current": format_usd(row.current_micro_usd),
                "delta": "not recorded"
                if delta is None
                else ("+" if delta > 0 else "") + format_usd(delta) + rel,
                "delta_sort": "" if delta is None else str(delta),
                "direction": "none" if not delta else ("up" if delta > 0 else "down"),
                "tokens": "-"
                if row.baseline_tokens is None or row.current_tokens is None
                else f"{row.current_tokens - row.baseline_tokens:+,}",
            }
        )
    return {
        "baseline": comparison.baseline,
        "rows": rows,
        "gates": [
            {"name": g.name, "passed": g.passed, "detail": g.detail, "label": g.label}
            for g in comparison.gates
        ],
    }


def _calibration(input_: PageInput) -> list[dict[str, Any]]:
    from ..summary import case_key

    sections = []
    for report in input_.calibration:
        metrics = report.metrics
        steps = []
        for step in metrics.steps:
            tokens = report.tokens.by_step.get(step.step)
            steps.append(
                {
                    "step": step.step,
                    "runs": step.runs,
                    "errors": step.errors,
                    "accuracy": f"{step.accuracy:.0%}",
                    "fields": f"{step.fields_matched}/{step.fields_scored}",
                    "input": f"{tokens.usage.input:,}" if tokens else "-",
                    "output": f"{tokens.usage.output:,}" if tokens else "-",
                    "cost": cost_cell(tokens).text if tokens else "-",
                }
            )
        cases = []
        for case in report.cases:
            tokens = report.tokens.by_case.get(case_key(report.scenario, case.case_id))
            cases.append(
                {
                    "case": case.case_id,
                    "steps": case.step_count,
                    "input": f"{case.prompt_tokens:,}",
                    "output": f"{case.artifact_tokens:,}",
                    "cost": cost_cell(tokens).text if tokens else "-",
                    "wall": format_duration(case.wall_ms / 1000),
                    "passed": case.passed,
                }
            )
        sections.append(
            {
                "scenario": report.scenario,
                "adapter": report.adapter,
                "counts": report.token_counts,
                "passed": f"{metrics.passed} of {metrics.cases} ({metrics.pass_rate:.0%})",
                "m18": f"{metrics.m18_total_prompt_tokens:,}",
                "m18_source": metrics.m18_source,
                "steps": steps,
                "cases": cases,
            }
        )
    return sections


def build_view(input_: PageInput) -> View:
    """The page's content, computed once."""
    report = input_.report
    summary = report.summary
    warn_said = report.run.budget_warn_at is not None or input_.warn_at is not None
    warn_at = report.run.budget_warn_at or input_.warn_at or DEFAULT_WARN_AT
    gauges, more, budget_table = _gauges(report, warn_at)
    chart, chart_note = _chart(input_.records, report, warn_at)
    by_model, by_test = cache_rows(input_.records, input_.pricer)
    tables = [_breakdown("t-tests", "Per test", "test", summary.by_test)]
    if summary.by_case:
        tables.append(_breakdown("t-cases", "Per case", "case", summary.by_case))
    tables.append(_breakdown("t-steps", "Per step", "step", summary.by_step))
    by_model_id, aliases = summary.rows_by_model_id()
    tables.append(_breakdown("t-models", "Per model", "model", by_model_id, aliases))
    cache_tables = []
    if by_model:
        cache_tables.append(
            _cache_table("t-cache-models", "Cache per model", "model", by_model, None)
        )
        cache_tables.append(
            _cache_table("t-cache-tests", "Cache per test", "test", by_test, TOP_CACHE_TESTS)
        )
    notes = list(input_.notes)
    default_rate = summary.totals.records_by_price_source.get(PriceSource.DEFAULT_RATE, 0)
    if default_rate:
        notes.append(
            f"{default_rate:,} record(s) with no model priced at the default rate, "
            f"{report.prices.default_rate}"
        )
    if summary.totals.includes_estimates:
        notes.append("Totals include estimated tokens (see the counts of each row).")
    notes += [f"Warning: {w}" for w in report.warnings]
    run = report.run
    return View(
        title=f"Token & Cost: run {run.run_id}",
        run={
            "id": run.run_id,
            "status": run.status,
            "started": f"{run.started:%Y-%m-%d %H:%M:%S} UTC",
            "wall": format_duration(run.wall_s),
            "argv": " ".join(run.argv),
            "plugin": run.plugin_version,
            "pytest": run.pytest_version,
            "prices": report.prices.genai_prices_version or "-",
            "workers": run.workers,
            "adapter": run.adapter,
        },
        cards=_cards(report, input_.history, warn_at),
        gauges=gauges,
        gauges_more=more,
        budget_table=budget_table,
        warn_at=warn_at,
        warn_text=percent_text(warn_at),
        warn_at_said=warn_said,
        chart=chart,
        chart_note=chart_note,
        history=_history(input_),
        routing=_routing(report),
        tables=tables,
        cache_tables=cache_tables,
        comparison=_comparison(input_),
        calibration=_calibration(input_),
        unpriced=list(summary.unpriced_models),
        notes=notes,
    )
