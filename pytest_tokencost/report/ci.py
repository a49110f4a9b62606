"""CI outputs of a report (pytest-free): Markdown, the GitHub step summary and annotations.

The same Markdown serves `--cost-report=markdown[:PATH]` (any CI, a pull-request comment) and
GitHub Actions' step summary (`$GITHUB_STEP_SUMMARY`). Other parts of the run add their own
sections to it (a comparison with an earlier run, gate verdicts) as `SummarySection`s: through
`RunState.summary_sections`, or a plugin's `pytest_tokencost_summary_sections` hook.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..summary import TokenTotals
from .document import BudgetEntry, TokenReport
from .render import (
    TITLE,
    _part_cost,
    budget_label,
    format_usd,
    recorded_text,
    spent_text,
    verdict_label,
    wall_clock_text,
)

if TYPE_CHECKING:
    from .compare import Comparison

#: How a failed cost gate's run-level error begins (its annotation is titled "cost gate").
GATE_ERROR_PREFIX = "cost gate failed: "

_VERDICT_WORDS = {"pass": "PASS", "fail": "**FAIL**", "no-baseline": "WARN", "not-recorded": "WARN"}

__all__ = [
    "GATE_ERROR_PREFIX",
    "SummarySection",
    "append_step_summary",
    "comparison_section",
    "github_summary_path",
    "render_markdown",
    "workflow_commands",
]


class SummarySection(NamedTuple):
    """A section of the Markdown summary: a title (a level-3 heading) and Markdown lines."""

    title: str
    lines: Sequence[str]


def _cell(text: object) -> str:
    """A Markdown table cell: pipes escaped, line breaks flattened."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], right: int = 1) -> list[str]:
    """A GitHub-flavoured Markdown table; columns from `right` on are right-aligned."""
    align = ["---" if i < right else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _cost(totals: TokenTotals) -> str:
    if totals.records == 0:
        return "-"
    text = spent_text(totals, totals.cost_micro_usd)
    if totals.replayed_records:  # replayed calls: recorded cost, beside the money spent
        text += f" spent (recorded {recorded_text(totals)})"
    return text


def _opt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _gates_lines(report: TokenReport) -> list[str]:
    """The baseline a run was compared with and every gate's verdict (from the report, so a
    report read back from its file renders the same)."""
    lines: list[str] = []
    baseline = report.baseline
    if baseline is not None:
        if baseline.run_id is None:
            lines.append(f"Baseline: none ({_cell(baseline.note or 'none found')}).")
        else:
            parts = [f"{baseline.started:%Y-%m-%d %H:%M} UTC"] if baseline.started else []
            if baseline.git_branch or baseline.git_commit:
                parts.append(f"{baseline.git_branch or '?'}@{(baseline.git_commit or '?')[:9]}")
            parts.append(f"from {baseline.source}")
            lines.append(f"Baseline: run `{baseline.run_id}` ({_cell(', '.join(parts))}).")
    if report.gates:
        lines += ["", *_table(["gate", "verdict", "detail"], _gate_rows(report), 3)]
    return lines


def _gate_rows(report: TokenReport) -> list[list[str]]:
    rows = []
    for verdict in report.gates:
        detail = verdict.message.removeprefix(f"{verdict.gate}: ").removeprefix(verdict.gate)
        word = _VERDICT_WORDS.get(verdict.status) or verdict_label(verdict.status, verdict.would_be)
        rows.append([f"`{verdict.gate}`", word, detail.strip()])
    return rows


def comparison_section(
    title: str, comparison: Comparison | None, note: str | None
) -> SummarySection:
    """The comparison with the baseline as a summary section (`note`: why there is none)."""
    if comparison is None:
        return SummarySection(title, [f"No baseline: {_cell(note or 'none found')}."])
    from .compare import render_compare

    return SummarySection(title, render_compare(comparison, fmt="markdown"))


def _run_line(report: TokenReport) -> str:
    run = report.run
    return (
        f"Run `{run.run_id}`: **{run.status}**, {wall_clock_text(report)}"
        + (f", {run.workers} xdist workers" if run.workers else "")
        + (f", adapter `{run.adapter}`" if run.adapter else "")
        + f"; prices: genai-prices {report.prices.genai_prices_version}"
    )


def _totals_lines(report: TokenReport) -> list[str]:
    """The totals table and the lines about its counts (or that nothing was recorded)."""
    summary = report.summary
    totals = summary.totals
    usage = totals.usage
    if totals.records == 0:
        return ["No tokens recorded.", ""]
    lines = _table(
        ["", "tokens", "cost"],
        [
            [
                "Input (prompts)",
                f"{usage.input:,}",
                _part_cost(totals, totals.input_cost_micro_usd),
            ],
            [
                "Output (artifacts)",
                f"{usage.output:,}",
                _part_cost(totals, totals.output_cost_micro_usd),
            ],
            ["**Total**", f"**{usage.total:,}**", f"**{_cost(totals)}**"],
        ],
    )
    mix = totals.tokens_by_provenance
    counts = ", ".join(f"{count:,} {kind.value}" for kind, count in mix.items())
    lines += ["", f"{totals.records:,} records; counts: {counts}."]
    if totals.includes_estimates:
        lines.append("Totals include estimated tokens.")
    if summary.unpriced_models:
        lines.append(f"Not recorded (no known price): {', '.join(summary.unpriced_models)}.")
    return [*lines, ""]


def _top_tests_lines(report: TokenReport, top: int) -> list[str]:
    by_test = report.summary.by_test
    tests = sorted(
        by_test.items(),
        key=lambda item: (-(item[1].cost_micro_usd or 0), -item[1].usage.total, item[0]),
    )[:top]
    if not tests:
        return []
    rows = [
        [f"`{name}`", f"{t.usage.input:,}", f"{t.usage.output:,}", f"{t.usage.total:,}", _cost(t)]
        for name, t in tests
    ]
    return [
        f"### Top tests by cost ({len(tests)} of {len(by_test)})",
        "",
        *_table(["test", "input", "output", "total", "cost"], rows),
        "",
    ]


def _model_row(name: str, t: TokenTotals) -> list[str]:
    usage = t.usage
    return [
        f"`{name}`",
        f"{t.records:,}",
        f"{usage.input:,}",
        _opt(usage.cache_read),
        _opt(usage.cache_write),
        f"{usage.output:,}",
        _opt(usage.reasoning),
        _cost(t),
    ]


def _models_lines(report: TokenReport) -> list[str]:
    by_model = report.summary.by_model
    if not by_model:
        return []
    headers = ["model", "calls", "input", "cache read", "cache write", "output", "reasoning"]
    headers.append("cost")
    grouped, aliases = report.summary.rows_by_model_id()  # one row per model
    rows = [_model_row(name, t) for name, t in grouped.items()]
    notes = [
        f"Model names: {_code(model_id)} = {' + '.join(_code(name) for name in names)}  "
        for model_id, names in aliases.items()
    ]
    return ["### Per model", "", *_table(headers, rows), "", *notes, *([""] if notes else [])]


def _code(name: str) -> str:
    """A model name as a Markdown code span (a backtick in it cannot end the span early)."""
    return "`" + name.replace("`", "'") + "`"


def _budget_row(entry: BudgetEntry) -> list[str]:
    usd = entry.channel.value == "micro_usd"
    show = format_usd if usd else (lambda value: f"{value:,}")
    status = entry.status.value
    return [
        budget_label(entry),
        "usd" if usd else entry.channel.value,
        show(entry.limit),
        show(entry.used),
        f"{entry.percent:g}%",
        f"**{status}**" if status != "ok" else "ok",
    ]


def _budgets_lines(report: TokenReport) -> list[str]:
    if not report.budgets:
        return []
    headers = ["budget", "channel", "limit", "used", "used %", "status"]
    return ["### Budgets", "", *_table(headers, map(_budget_row, report.budgets), 2), ""]


def _titled(title: str, lines: Sequence[str]) -> list[str]:
    """A level-3 section, or nothing when it has no lines."""
    return [f"### {title}", "", *lines, ""] if lines else []


def render_markdown(
    report: TokenReport,
    *,
    top: int = 10,
    errors: Sequence[str] = (),
    sections: Sequence[SummarySection] = (),
) -> str:
    """The run's summary as Markdown: status, run errors, totals, top tests, per model, budgets,
    the baseline and cost gates' verdicts, the extra `sections` (such as the comparison with
    the baseline), then warnings."""
    lines = [f"## {TITLE}", "", _run_line(report), ""]
    if errors:
        lines += [f"> **Error:** {_cell(message)}" for message in errors] + [""]
    lines += _totals_lines(report)
    lines += _top_tests_lines(report, top)
    lines += _models_lines(report)
    lines += _budgets_lines(report)
    lines += _titled("Cost gates", _gates_lines(report))
    for section in sections:
        lines += [f"### {section.title}", "", *section.lines, ""]
    # the run's errors are in the report's warnings too: shown once, above
    warnings = [warning for warning in report.warnings if warning not in errors]
    lines += _titled("Warnings", [f"- {_cell(warning)}" for warning in warnings])
    return "\n".join(lines)


def github_summary_path(setting: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where the step summary goes: `$GITHUB_STEP_SUMMARY`, unless ini
    `tokencost_github_summary = false` (``auto`` and ``true`` both write when it is set)."""
    path = environ.get("GITHUB_STEP_SUMMARY")
    if setting == "false" or not path:
        return None
    return Path(path)


def append_step_summary(path: Path, markdown: str) -> None:
    """Append to GitHub's step summary file (other steps' and tools' summaries stay)."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n\n")


def _escape(text: str) -> str:
    """A workflow command's message, escaped as GitHub's runner reads it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_commands(
    report: TokenReport | None,
    errors: Sequence[str] = (),
    environ: Mapping[str, str] = os.environ,
) -> list[str]:
    """GitHub workflow commands for the run (only when `GITHUB_ACTIONS=true`): a budget at its
    warn line and a cost gate that could not be checked (no baseline, cost not recorded) are
    a ``::warning``; an exceeded budget and a run-level error (session budget, --cost-strict,
    a failed gate) an ``::error``."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return []
    out = []
    for entry in report.budgets if report is not None else ():
        status = entry.status.value
        if status not in ("warn", "exceeded"):
            continue
        usd = entry.channel.value == "micro_usd"
        show = format_usd if usd else (lambda value: f"{value:,}")
        message = (
            f"{entry.scope}: {'usd' if usd else entry.channel.value} budget {status}: "
            f"{show(entry.used)} of {show(entry.limit)} ({entry.percent:g}%)"
        )
        level = "error" if status == "exceeded" else "warning"
        out.append(f"::{level} title=token budget::{_escape(message)}")
    for verdict in report.gates if report is not None else ():
        if verdict.status in ("no-baseline", "not-recorded"):
            out.append(f"::warning title=cost gate::{_escape(verdict.message)}")
    for message in errors:
        title = "cost gate" if message.startswith(GATE_ERROR_PREFIX) else "tokencost"
        out.append(f"::error title={title}::{_escape(message)}")
    return out
