"""The Token & Cost section of a plain report (`plain_summary`), without the report models.

`render.render_lines` reads a `TokenReport` and imports the models for its constants; an ingest
(see `ingest`) has only plain data and a report without budgets, gates or scope runs. This
module lays out the same lines from that data, with `render`'s own table, cost and wrapping
helpers (which import no model), so that both print the same section;
`tests/test_ingest_plain.py` compares them line by line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .plain_summary import NO_STEP, PROVENANCES, PlainSummary, PriceSourceName, Totals
from .report.render import (
    Column,
    Line,
    _average,
    _cost,
    _exact_usd,
    _model_table,
    _part_cost,
    _table,
    _wrap,
    format_duration,
    top_by_cost,
)

__all__ = ["plain_section_lines"]


def _headline(summary: PlainSummary, labels: Mapping[str, str], wall_s: float) -> list[Line]:
    totals = summary.totals
    usage = totals.usage
    rows: list[tuple[str, int, str]] = [
        ("Total prompts:", usage.input, _part_cost(totals, totals.input_cost_micro_usd)),  # type: ignore[arg-type]
        ("Total artifacts:", usage.output, _part_cost(totals, totals.output_cost_micro_usd)),  # type: ignore[arg-type]
        ("Total:", usage.total, _cost(totals, totals.cost_micro_usd, label=True)),  # type: ignore[arg-type]
    ]
    if summary.by_case:
        groups = sum(summary.by_case.values(), Totals())
        rows.append((f"Per {labels['case']} avg:", *_average(groups, len(summary.by_case))))  # type: ignore[arg-type]
    elif summary.by_test:
        rows.append((f"Per {labels['test']} avg:", *_average(totals, len(summary.by_test))))  # type: ignore[arg-type]
    if totals.steps:
        rows.append((f"Per {labels['step']} avg:", *_average(totals, totals.steps)))  # type: ignore[arg-type]
    width = max(len(f"{count:,}") for _, count, _ in rows)
    pad = max(17, *(len(label) + 1 for label, _, _ in rows))
    lines: list[Line] = [
        (
            f"{label:<{pad}}{count:>{width},} tokens ({cost})",
            "yellow" if "not recorded" in cost else None,
        )
        for label, count, cost in rows
    ]
    lines.append((f"{'Wall clock:':<{pad}}{format_duration(wall_s)}", None))
    return lines


def _notes(summary: PlainSummary, report: Mapping[str, Any]) -> list[Line]:
    totals = summary.totals
    notes: list[Line] = [("(Prompts are input tokens, artifacts output tokens.)", None)]
    mix = totals.tokens_by_provenance
    if mix:
        parts = ", ".join(f"{mix[kind]:,} {kind}" for kind in PROVENANCES if kind in mix)
        notes.append((f"Counts: {parts}", None))
        if totals.includes_estimates:
            notes.append(("Note: totals include estimated tokens (see the Counts line).", None))
    default_rate = totals.price_sources.get(PriceSourceName.DEFAULT_RATE, 0)
    if default_rate:
        notes.append(
            (
                f"Default rate: {default_rate} record(s) priced at "
                f"{report['prices']['default_rate']} (no known model)",
                None,
            )
        )
    if totals.unpriced_records:
        notes.append(
            (
                f"Not recorded: {totals.unpriced_records} record(s) have no known price, for "
                f"{', '.join(summary.unpriced_models)}; add them to a --cost-prices file",
                "yellow",
            )
        )
    notes += _cost_checks(report["cost_checks"])
    notes.extend((f"Warning: {warning}", "yellow") for warning in report["warnings"])
    return notes


def _cost_checks(checks: Sequence[Mapping[str, Any]]) -> list[Line]:
    if not checks:
        return []
    disagreements = [check for check in checks if not check["agrees"]]
    notes: list[Line] = [
        (
            f"Cost check: {len(checks)} record(s) came with the source's own "
            f"cost; {len(disagreements)} disagree with the computed cost",
            "yellow" if disagreements else None,
        )
    ]
    for check in disagreements[:5]:
        notes.append(
            (
                f"  {check['test_id']}: {check['model']}: computed "
                f"{_exact_usd(check['computed_micro_usd'])}, reported "
                f"{_exact_usd(check['reported_micro_usd'])}",
                "yellow",
            )
        )
    return notes


def _totals_rows(items: Sequence[tuple[str, Totals]]) -> tuple[list[Column], list[list[str]]]:
    """Columns and rows of a by-session / by-day / by-source table (no runs, no wall)."""
    columns = [Column("name", "<"), Column("input", drop=2), Column("output", drop=1)]
    columns += [Column("total"), Column("cost")]
    rows = []
    for name, t in items:
        usage = t.usage
        row = [name, f"{usage.input:,}", f"{usage.output:,}", f"{usage.total:,}"]
        rows.append([*row, _cost(t, t.cost_micro_usd)])  # type: ignore[arg-type]
    return columns, rows


def _group_table(
    title: str, label: str, items: list[tuple[str, Totals]], width: int | None
) -> list[Line]:
    columns, rows = _totals_rows(items)
    columns[0] = Column(label, "<")
    return [("", None), (title, None), *_table(columns, rows, width)]


def _tables(
    summary: PlainSummary, labels: Mapping[str, str], width: int | None, top: int
) -> list[Line]:
    lines: list[Line] = []
    tests = top_by_cost(summary.by_test, top)
    if tests:
        shown = f"{len(tests)} of {len(summary.by_test)}"
        title = f"Top {labels['test']}s by cost ({shown}):"
        lines += _group_table(title, labels["test"], tests, width)
    if summary.by_case:
        title = f"Per {labels['case']}:"
        lines += _group_table(title, labels["case"], list(summary.by_case.items()), width)
    if summary.by_step and set(summary.by_step) != {NO_STEP}:
        title = f"Per {labels['step']}:"
        lines += _group_table(title, labels["step"], list(summary.by_step.items()), width)
    if summary.by_model:
        rows, aliases = summary.rows_by_model_id()
        lines += [("", None), ("Per model:", None), *_model_table(rows, width)]  # type: ignore[arg-type]
        lines += [
            (f"Model names: {model_id} = {' + '.join(names)}", None)
            for model_id, names in aliases.items()
        ]
    return lines


def plain_section_lines(
    summary: PlainSummary,
    report: Mapping[str, Any],
    *,
    labels: Mapping[str, str],
    width: int | None,
    top: int = 10,
) -> list[Line]:
    """`render.render_lines(report, labels=labels, width=width, top=top, transcripts=True)`
    of a report with records and without budgets or gates, from its plain document (and the
    summary it was written from)."""
    lines = _headline(summary, labels, report["run"]["wall_s"]) + _notes(summary, report)
    lines += _tables(summary, labels, width, top)
    return _wrap(lines, width)
