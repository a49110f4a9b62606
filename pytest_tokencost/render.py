"""Text rendering of a report: the "Token & Cost" section and its tables.

Pure functions from a `TokenReport` to lines, shared by the pytest terminal summary and the
`tokencost report` command. Money is converted from integer micro-USD only here, at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from .money import format_usd
from .records import PriceSource, Provenance
from .report import TokenReport
from .summary import NO_STEP, TokenSummary, TokenTotals

__all__ = [
    "TEST_LABELS",
    "TITLE",
    "format_duration",
    "format_usd",
    "render_gates",
    "render_report",
]

#: What the summary's test, case and step groups are called in a pytest run.
TEST_LABELS = {"test": "test", "case": "case", "step": "step"}

TITLE = "Token & Cost"
_TOP_TESTS = 10


def _exact_usd(micro_usd: int | None) -> str:
    """Every micro-dollar shown, for comparisons: ``$0.002196``."""
    return "not recorded" if micro_usd is None else f"${Decimal(micro_usd) / 1_000_000:.6f}"


def format_duration(seconds: float) -> str:
    """``4m 32s``, ``1h 02m 05s`` or ``0.42s``."""
    if seconds < 60:
        return f"{seconds:.2f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _cost(totals: TokenTotals, micro_usd: int | None, *, label: bool = False) -> str:
    """A group's cost; with replayed calls, their recorded cost beside it (`label`: the money
    spent called so)."""
    if totals.records == 0:
        return "-"
    text = format_usd(micro_usd)
    if micro_usd is not None and totals.unpriced_records:
        text += f" + {totals.unpriced_records} not recorded"
    if not totals.replayed_records:
        return text
    # The cost of replayed calls, beside the money spent and never added to it.
    recorded = f"recorded {format_usd(totals.replayed_cost_micro_usd)}"
    return f"{text} spent, {recorded}" if label else f"{text} ({recorded})"


def _spent(totals: TokenTotals, text: str) -> str:
    """A cost labelled as money spent when replayed calls are beside it."""
    return f"{text} spent" if totals.replayed_records else text


def _average(totals: TokenTotals, count: int) -> tuple[int, str]:
    tokens = round(totals.usage.total / count)
    cost = totals.cost_micro_usd
    if cost is None:
        return tokens, "not recorded"
    text = format_usd(int((Decimal(cost) / count).quantize(Decimal(1), ROUND_HALF_UP)))
    return tokens, _spent(totals, text + (" + not recorded" if totals.unpriced_records else ""))


def _headline(report: TokenReport, labels: dict[str, str]) -> list[str]:
    summary = report.summary
    totals = summary.totals
    usage = totals.usage
    rows: list[tuple[str, int, str]] = [
        ("Total prompts:", usage.input, _spent(totals, format_usd(totals.input_cost_micro_usd))),
        (
            "Total artifacts:",
            usage.output,
            _spent(totals, format_usd(totals.output_cost_micro_usd)),
        ),
        ("Total:", usage.total, _cost(totals, totals.cost_micro_usd, label=True)),
    ]
    groups: Mapping[str, TokenTotals] = summary.by_case
    label = f"Per {labels['case']} avg:"
    if not groups:
        groups, label = summary.by_test, f"Per {labels['test']} avg:"
    if groups:
        rows.append((label, *_average(sum(groups.values(), TokenTotals()), len(groups))))
    if totals.steps:
        rows.append((f"Per {labels['step']} avg:", *_average(totals, totals.steps)))
    width = max(len(f"{count:,}") for _, count, _ in rows)
    pad = max(17, *(len(label) + 1 for label, _, _ in rows))
    lines = [f"{label:<{pad}}{count:>{width},} tokens ({cost})" for label, count, cost in rows]
    lines.append(f"{'Wall clock:':<{pad}}{format_duration(report.run.wall_s)}")
    return lines


def _notes(report: TokenReport) -> list[str]:
    totals = report.summary.totals
    notes: list[str] = []
    if totals.replayed_records:
        notes.append(
            f"Replayed: {totals.replayed_records} call(s), {totals.replayed_tokens:,} tokens, "
            f"recorded cost {format_usd(totals.replayed_cost_micro_usd)}: replayed from a "
            "recording (cassette, mocked transport), what they would cost live; not spent "
            "in this run"
        )
    mix = totals.tokens_by_provenance
    if mix:
        parts = ", ".join(f"{mix[kind]:,} {kind.value}" for kind in Provenance if kind in mix)
        notes.append(f"Counts: {parts}")
        if totals.includes_estimates:
            notes.append("Note: totals include estimated tokens (see the Counts line).")
    default_rate = totals.records_by_price_source.get(PriceSource.DEFAULT_RATE, 0)
    if default_rate:
        notes.append(
            f"Default rate: {default_rate} record(s) priced at {report.prices.default_rate} "
            "(no known model)"
        )
    if totals.unpriced_records:
        notes.append(
            f"Not recorded: {totals.unpriced_records} record(s) have no known price, for "
            f"{', '.join(report.summary.unpriced_models)}; add them to a --cost-prices file"
        )
    disagreements = [check for check in report.cost_checks if not check.agrees]
    if report.cost_checks:
        notes.append(
            f"Cost check: {len(report.cost_checks)} record(s) came with the source's own cost; "
            f"{len(disagreements)} disagree with the computed cost"
        )
    for check in disagreements[:5]:
        notes.append(
            f"  {check.test_id}: {check.model}: computed {_exact_usd(check.computed_micro_usd)}, "
            f"reported {_exact_usd(check.reported_micro_usd)}"
        )
    if report.total_checks:
        notes.append(
            f"Total check: {len(report.total_checks)} record(s) whose source's own "
            "total_tokens differs from input + output"
        )
    for total in report.total_checks[:5]:
        notes.append(
            f"  {total.test_id}: {total.model}: input + output {total.computed:,}, "
            f"reported total {total.reported:,}"
        )
    notes.extend(f"Warning: {warning}" for warning in report.warnings)
    return notes


def _opt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _tables(report: TokenReport, labels: dict[str, str]) -> list[str]:
    from tabulate import tabulate

    summary = report.summary
    lines: list[str] = []
    rows: list[tuple[object, ...]]
    tests = sorted(
        summary.by_test.items(),
        key=lambda item: (
            -(item[1].cost_micro_usd or 0),
            -(item[1].replayed_cost_micro_usd or 0),
            -item[1].usage.total,
            item[0],
        ),
    )[:_TOP_TESTS]
    if tests:
        lines += ["", f"Top {labels['test']}s by cost (of {len(summary.by_test)}):"]
        rows = [
            (
                name,
                f"{t.usage.input:,}",
                f"{t.usage.output:,}",
                f"{t.usage.total:,}",
                _cost(t, t.cost_micro_usd),
            )
            for name, t in tests
        ]
        lines += tabulate(
            rows,
            [labels["test"], "prompt", "artifact", "total", "cost"],
            colalign=("left", "right", "right", "right", "right"),
        ).splitlines()
    # Records outside any step make a "(no step)" row; alone, it says nothing about steps.
    if summary.by_step and set(summary.by_step) != {NO_STEP}:
        lines += ["", f"Per {labels['step']}:"]
        rows = [
            (
                name,
                t.steps,
                f"{t.usage.input:,}",
                f"{t.usage.output:,}",
                f"{t.usage.total:,}",
                _cost(t, t.cost_micro_usd),
                # records outside steps are not timed: no wall clock, rather than 0.00s
                "-" if name == NO_STEP else format_duration(t.wall_ms / 1000),
            )
            for name, t in summary.by_step.items()
        ]
        lines += tabulate(
            rows,
            [labels["step"], "runs", "prompt", "artifact", "total", "cost", "wall"],
            colalign=("left", "right", "right", "right", "right", "right", "right"),
        ).splitlines()
    if summary.by_model:
        lines += ["", "Per model:", *_model_table(_by_model_id(summary))]
    return lines


def _by_model_id(summary: TokenSummary) -> dict[str, TokenTotals]:
    """Model rows with the aliases of one model (dated and undated names) in one row, named
    by the model's id and the names the records used."""
    rows: dict[str, TokenTotals] = {}
    for model_id, names in summary.model_groups().items():
        label = names[0] if len(names) == 1 else f"{model_id} ({', '.join(names)})"
        rows[label] = sum((summary.by_model[name] for name in names), TokenTotals())
    return rows


def _model_table(by_model: Mapping[str, TokenTotals]) -> list[str]:
    """Per-model counts; the 1-hour cache write and web search columns only when some model
    has them, so that tables of runs without them stay as narrow as before."""
    from tabulate import tabulate

    one_hour = any(t.usage.cache_write_1h for t in by_model.values())
    searches = any(t.usage.web_searches for t in by_model.values())
    headers = ["model", "calls", "input", "cache read", "cache write"]
    headers += ["1h write"] if one_hour else []
    headers += ["output", "reasoning"] + (["web searches"] if searches else [])
    headers += ["cost", "priced by"]
    rows = []
    for name, t in by_model.items():
        u = t.usage
        row: list[object] = [
            name,
            t.records,
            f"{u.input:,}",
            _opt(u.cache_read),
            _opt(u.cache_write),
        ]
        row += [_opt(u.cache_write_1h)] if one_hour else []
        row += [f"{u.output:,}", _opt(u.reasoning)] + ([_opt(u.web_searches)] if searches else [])
        sources = ", ".join(source.value for source in t.records_by_price_source)
        row += [_cost(t, t.cost_micro_usd), sources]
        rows.append(row)
    align = ("left", *("right",) * (len(headers) - 2), "left")
    table: str = tabulate(rows, headers, colalign=align)
    return table.splitlines()


def _budgets(report: TokenReport) -> list[str]:
    from tabulate import tabulate

    if not report.budgets:
        return []
    rows = []
    for entry in report.budgets:
        usd = entry.channel.value == "micro_usd"

        def show(value: int, usd: bool = usd) -> str:
            return format_usd(value) if usd else f"{value:,}"

        rows.append(
            (
                entry.scope,
                "usd" if usd else entry.channel.value,
                show(entry.limit),
                show(entry.used),
                show(entry.remaining),
                f"{entry.percent:g}%",
                entry.status.value,
            )
        )
    table = tabulate(
        rows,
        ["budget", "channel", "limit", "used", "remaining", "used %", "status"],
        colalign=("left", "left", "right", "right", "right", "right", "left"),
    )
    return ["", "Budgets:", *table.splitlines()]


def render_report(
    report: TokenReport, *, tables: bool = True, labels: dict[str, str] = TEST_LABELS
) -> list[str]:
    """The lines of the Token & Cost section (without its title bar).

    `labels` names the summary's test, case and step groups (an ingest report's are
    sessions, days and sources).
    """
    if report.summary.totals.records == 0:
        return ["No tokens recorded.", *_budgets(report), *render_gates(report)]
    lines = _headline(report, labels) + _notes(report) + _budgets(report) + render_gates(report)
    if tables:
        lines += _tables(report, labels)
    return lines


_VERDICT_LABELS = {"pass": "PASS", "fail": "FAIL", "no-baseline": "WARN", "not-recorded": "WARN"}


def render_gates(report: TokenReport) -> list[str]:
    """The baseline a run was compared with, and the verdict of each cost gate."""
    lines: list[str] = []
    baseline = report.baseline
    if baseline is not None:
        if baseline.run_id is None:
            lines.append(f"Baseline: none ({baseline.note})")
        else:
            where = f"{baseline.git_branch or '?'}@{(baseline.git_commit or '?')[:9]}"
            when = f"{baseline.started:%Y-%m-%d %H:%M} UTC, " if baseline.started else ""
            lines.append(f"Baseline: run {baseline.run_id} ({when}{where}; from {baseline.source})")
    lines += [f"Gate {_VERDICT_LABELS[v.status]}: {v.message}" for v in report.gates]
    return ["", *lines] if lines else []
