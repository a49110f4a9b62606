"""Text rendering of a report: the "Token & Cost" section and its tables.

Pure functions from a `TokenReport` to lines, shared by the pytest terminal summary and the
`tokencost report` command. Money is converted from integer micro-USD only here, at the edge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ..money import format_usd, format_usd_exact
from .empty_report import NO_TOKENS

if TYPE_CHECKING:  # imported where used: the plugin prints the title of an empty run
    from ..summary import TokenTotals
    from .document import BudgetEntry, TokenReport

_T = TypeVar("_T")

__all__ = [
    "DEFAULT_WIDTH",
    "REBUILT_PREFIX",
    "TEST_LABELS",
    "TITLE",
    "Column",
    "Line",
    "budget_label",
    "fit_lines",
    "fit_table",
    "format_duration",
    "format_usd",
    "recorded_text",
    "render_gates",
    "render_lines",
    "render_report",
    "shorten_middle",
    "spent_text",
    "top_by_cost",
    "verdict_label",
    "wall_clock_text",
]

#: What the summary's test, case and step groups are called in a pytest run.
TEST_LABELS = {"test": "test", "case": "case", "step": "step"}

TITLE = "Token & Cost"
DEFAULT_WIDTH = 80
_MIN_NAME = 12

#: A line of the section and its colour: None, "yellow" (a warning, something not recorded)
#: or "red" (an exceeded budget). Colour is applied by whoever prints, if the terminal wants it.
Line = tuple[str, str | None]


def shorten_middle(text: str, width: int, head: int | None = None) -> str:
    """`text` in at most `width` characters, its middle replaced by ``...`` when too long
    (a test id keeps its file and its name's end); `head` characters kept before the ``...``
    (by default about half)."""
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    if head is None or not 0 <= head <= width - 3:
        head = (width - 3 + 1) // 2
    tail = width - 3 - head
    return text[:head] + "..." + (text[-tail:] if tail else "")


#: How the warning of a report rebuilt from a killed run's records begins (`rebuild`).
REBUILT_PREFIX = "rebuilt by tokencost from "


def wall_clock_text(report: TokenReport) -> str:
    """A report's wall clock (``0.64s``), saying so when it counts only to a killed run's last
    record: a rebuilt report's, or a combined one's with a rebuilt run among its shards (its
    `run.wall_s` stays the number, the time to that record)."""
    text = format_duration(report.run.wall_s)
    if any(warning.startswith(REBUILT_PREFIX) for warning in report.warnings):
        return f"{text} (to its last record)"
    # `tokencost combine` names each shard's warning's run: "run <id>: rebuilt by ...".
    if any(f": {REBUILT_PREFIX}" in warning for warning in report.warnings):
        return f"{text} (a killed run's to its last record)"
    return text


def _exact_usd(micro_usd: int | None) -> str:
    """Every micro-dollar shown, for comparisons: ``$0.002196``."""
    return format_usd_exact(micro_usd)


def format_duration(seconds: float) -> str:
    """``4m 32s``, ``1h 02m 05s`` or ``0.42s``."""
    if seconds < 60:
        return f"{seconds:.2f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def spent_text(totals: TokenTotals, micro_usd: int | None) -> str:
    """Money spent on a group, or on a part of it (its input or its output): the priced part,
    and how many records it leaves out for want of a price (``$0.000170 + 2 not recorded``);
    "not recorded" when none was priced."""
    text = format_usd(micro_usd)
    # Unpriced replayed calls go with the recorded cost: no money was spent on them.
    if micro_usd is not None and totals.live_unpriced_records:
        text += f" + {totals.live_unpriced_records} not recorded"
    return text


def recorded_text(totals: TokenTotals) -> str:
    """The recorded cost of a group's replayed calls (never money spent), and how many of them
    had no price: ``$0.00350 + 1 not recorded``."""
    text = format_usd(totals.replayed_cost_micro_usd)
    if totals.replayed_cost_micro_usd is not None and totals.replayed_unpriced_records:
        text += f" + {totals.replayed_unpriced_records} not recorded"
    return text


def _cost(totals: TokenTotals, micro_usd: int | None, *, label: bool = False) -> str:
    """A group's cost; with replayed calls, their recorded cost beside it (`label`: the money
    spent called so)."""
    if totals.records == 0:
        return "-"
    text = spent_text(totals, micro_usd)
    if not totals.replayed_records:
        return text
    # The cost of replayed calls, beside the money spent and never added to it.
    recorded = f"recorded {recorded_text(totals)}"
    return f"{text} spent, {recorded}" if label else f"{text} ({recorded})"


def _spent(totals: TokenTotals, text: str) -> str:
    """A cost labelled as money spent when replayed calls are beside it."""
    return f"{text} spent" if totals.replayed_records else text


def _part_cost(totals: TokenTotals, micro_usd: int | None) -> str:
    """The money spent on the input or the output of a group, worded as its Total line is:
    the records left out for want of a price said the same way, and "spent" beside replays."""
    return _spent(totals, spent_text(totals, micro_usd))


def _average(totals: TokenTotals, count: int) -> tuple[int, str]:
    tokens = round(totals.usage.total / count)
    cost = totals.cost_micro_usd
    if cost is None:
        return tokens, "not recorded"
    text = format_usd(int((Decimal(cost) / count).quantize(Decimal(1), ROUND_HALF_UP)))
    unpriced = " + not recorded" if totals.live_unpriced_records else ""
    return tokens, _spent(totals, text + unpriced)


def _headline(report: TokenReport, labels: Mapping[str, str]) -> list[Line]:
    from ..summary import NO_STEP, TokenTotals

    summary = report.summary
    totals = summary.totals
    usage = totals.usage
    rows: list[tuple[str, int, str]] = [
        ("Total prompts:", usage.input, _part_cost(totals, totals.input_cost_micro_usd)),
        ("Total artifacts:", usage.output, _part_cost(totals, totals.output_cost_micro_usd)),
        ("Total:", usage.total, _cost(totals, totals.cost_micro_usd, label=True)),
    ]
    groups: Mapping[str, TokenTotals] = summary.by_case
    label = f"Per {labels['case']} avg:"
    if groups:
        rows.append((label, *_average(sum(groups.values(), TokenTotals()), len(groups))))
    elif summary.by_test:
        # Every record is in exactly one test's entry: their sum is the run's totals.
        rows.append((f"Per {labels['test']} avg:", *_average(totals, len(summary.by_test))))
    # Steps are counted per record outside any step too: without a step, no step average.
    if totals.steps and any(name != NO_STEP for name in summary.by_step):
        rows.append((f"Per {labels['step']} avg:", *_average(totals, totals.steps)))
    width = max(len(f"{count:,}") for _, count, _ in rows)
    pad = max(17, *(len(label) + 1 for label, _, _ in rows))
    lines: list[Line] = [
        (
            f"{label:<{pad}}{count:>{width},} tokens ({cost})",
            "yellow" if "not recorded" in cost else None,
        )
        for label, count, cost in rows
    ]
    lines.append((f"{'Wall clock:':<{pad}}{wall_clock_text(report)}", None))
    return lines


def _replay_notes(report: TokenReport) -> list[Line]:
    totals = report.summary.totals
    if not totals.replayed_records:
        return []
    return [
        (
            f"Replayed: {totals.replayed_records} call(s), {totals.replayed_tokens:,} "
            f"tokens, recorded cost {format_usd(totals.replayed_cost_micro_usd)}: replayed "
            "from a recording (cassette, mocked transport), what they would cost live; not "
            "spent in this run",
            None,
        )
    ]


def _interrupt_notes(report: TokenReport) -> list[Line]:
    """An interrupted run's figures are what was recorded before it stopped."""
    if report.run.status != "interrupted":
        return []
    running = report.run.interrupted_tests
    partial = (
        f"; {len(running)} test(s) were still running, their records so far are included"
        if running
        else ""
    )
    return [
        (f"Note: the run was interrupted: these are its figures until then{partial}.", "yellow")
    ]


def _count_notes(report: TokenReport) -> list[Line]:
    from ..records import Provenance

    totals = report.summary.totals
    mix = totals.tokens_by_provenance
    if not mix:
        return []
    parts = ", ".join(f"{mix[kind]:,} {kind.value}" for kind in Provenance if kind in mix)
    notes: list[Line] = [(f"Counts: {parts}", None)]
    if totals.includes_estimates:
        notes.append(("Note: totals include estimated tokens (see the Counts line).", None))
    return notes


def _price_notes(report: TokenReport) -> list[Line]:
    from ..records import PriceSource

    totals = report.summary.totals
    notes: list[Line] = []
    default_rate = totals.records_by_price_source.get(PriceSource.DEFAULT_RATE, 0)
    if default_rate:
        notes.append(
            (
                f"Default rate: {default_rate} record(s) priced at "
                f"{report.prices.default_rate} (no known model)",
                None,
            )
        )
    if totals.unpriced_records:
        notes.append(
            (
                f"Not recorded: {totals.unpriced_records} record(s) have no known price, for "
                f"{', '.join(report.summary.unpriced_models)}; add them to a --cost-prices file",
                "yellow",
            )
        )
    return notes


def _cost_check_notes(report: TokenReport) -> list[Line]:
    if not report.cost_checks:
        return []
    disagreements = [check for check in report.cost_checks if not check.agrees]
    notes: list[Line] = [
        (
            f"Cost check: {len(report.cost_checks)} record(s) came with the source's own "
            f"cost; {len(disagreements)} disagree with the computed cost",
            "yellow" if disagreements else None,
        )
    ]
    notes += [
        (
            f"  {check.test_id}: {check.model}: computed "
            f"{_exact_usd(check.computed_micro_usd)}, reported "
            f"{_exact_usd(check.reported_micro_usd)}",
            "yellow",
        )
        for check in disagreements[:5]
    ]
    return notes


def _total_check_notes(report: TokenReport) -> list[Line]:
    if not report.total_checks:
        return []
    notes: list[Line] = [
        (
            f"Total check: {len(report.total_checks)} record(s) whose source's own "
            "total_tokens differs from input + output",
            "yellow",
        )
    ]
    notes += [
        (
            f"  {total.test_id}: {total.model}: input + output {total.computed:,}, "
            f"reported total {total.reported:,}",
            "yellow",
        )
        for total in report.total_checks[:5]
    ]
    return notes


#: The notes under the totals, in the order they are shown.
_NOTE_MAKERS: tuple[Callable[[TokenReport], list[Line]], ...] = (
    _interrupt_notes,
    _replay_notes,
    _count_notes,
    _price_notes,
    _cost_check_notes,
    _total_check_notes,
)


def _notes(report: TokenReport) -> list[Line]:
    notes: list[Line] = [("(Prompts are input tokens, artifacts output tokens.)", None)]
    for make in _NOTE_MAKERS:
        notes += make(report)
    notes.extend((f"Warning: {warning}", "yellow") for warning in report.warnings)
    return notes


def _opt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


class Column(NamedTuple):
    """A table column: header, alignment, and the order in which it is dropped when the
    table does not fit (0: never dropped; the highest first)."""

    header: str
    align: str = ">"
    drop: int = 0


def _distinct_width(names: Sequence[str], size: int, full: int) -> int:
    """The least width from `size` (at most `full`) at which `names` shortened in their
    middle are as many as the distinct names: ``gemini-2.0-flash`` and ``gemini-2.5-flash``
    must not both read ``gemini...-flash``."""
    distinct = len(set(names))
    for candidate in range(size, full):
        if len({shorten_middle(name, candidate) for name in names}) == distinct:
            return candidate
    return max(size, full)


def _distinct_head(names: Sequence[str], size: int) -> int | None:
    """Where to cut `names` shortened to `size` so that distinct names stay distinct: the
    default middle (None) if it does, else the cut nearest to it that does (None if none)."""
    distinct = len(set(names))
    middle = (size - 3 + 1) // 2
    for offset in range(size - 2):
        for head in (middle - offset, middle + offset):
            if not 0 <= head <= size - 3:
                continue
            if len({shorten_middle(name, size, head) for name in names}) == distinct:
                return None if head == middle else head
    return None


class _Fit:
    """Column widths of a table that fits a terminal width (see `_table`)."""

    def __init__(self, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
        self.columns, self.rows = columns, rows
        self.keep = list(range(len(columns)))
        self.droppable = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop)

    def widths(self, indices: list[int], first: int | None = None) -> list[int]:
        out = [
            max([len(self.columns[i].header), *(len(row[i]) for row in self.rows)]) for i in indices
        ]
        if first is not None and out:
            out[0] = min(out[0], first)
        return out

    @staticmethod
    def total(sizes: list[int]) -> int:
        return sum(sizes) + 2 * (len(sizes) - 1)

    def drop_until(self, first: int, width: int) -> None:
        """Drop columns, least needed first, until the table fits with `first` for names."""
        while self.total(self.widths(self.keep, first)) > width and self.droppable:
            self.keep.remove(self.droppable.pop()[1])

    def sizes(self, width: int | None) -> tuple[list[int], list[int]]:
        """The columns kept and their widths."""
        keep, total = self.keep, self.total
        sizes = self.widths(keep)
        if width is None or total(sizes) <= width:
            return keep, sizes
        # Names first give up their middle, down to a readable size; then columns go, least
        # needed first; then names shrink further.
        first = max(max(24, width * 2 // 5), sizes[0] - (total(sizes) - width))
        self.drop_until(first, width)
        sizes = self.widths(keep, first)
        if total(sizes) > width:
            sizes = self.widths(keep, max(_MIN_NAME, sizes[0] - (total(sizes) - width)))
        # Distinct names must stay distinct once shortened: more room for them, taken from
        # the columns least needed.
        needed = _distinct_width([row[0] for row in self.rows], sizes[0], self.widths([0])[0])
        if needed > sizes[0]:
            self.drop_until(needed, width)
            room = width - total(self.widths(keep, sizes[0]))
            sizes = self.widths(keep, min(needed, sizes[0] + max(0, room)))
        return keep, sizes


def _table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int | None,
    styles: Sequence[str | None] = (),
) -> list[Line]:
    """A plain table (header, rule, rows; two spaces between columns) that fits `width`:
    columns are dropped by priority, then the first column is shortened in its middle."""
    keep, sizes = _Fit(columns, rows).sizes(width)

    # Names that still collide at this width are cut elsewhere than in their middle.
    head = _distinct_head([row[0] for row in rows], sizes[0]) if rows else None

    def line(cells: Sequence[str]) -> str:
        parts = []
        for size, i in zip(sizes, keep, strict=True):
            cell = shorten_middle(cells[i], size, head if i == 0 else None)
            parts.append(f"{cell:{columns[i].align}{size}}")
        return "  ".join(parts).rstrip()

    out: list[Line] = [(line([c.header for c in columns]), None)]
    out.append(("  ".join("-" * size for size in sizes), None))
    for index, row in enumerate(rows):
        style = styles[index] if index < len(styles) else None
        if style is None and any("not recorded" in cell for cell in row):
            style = "yellow"
        out.append((line(row), style))
    return out


def _totals_rows(
    items: Sequence[tuple[str, TokenTotals]], runs: bool, wall: bool
) -> tuple[list[Column], list[list[str]]]:
    """Columns and rows of a by-test / by-step / by-day table."""
    from ..summary import NO_STEP

    columns = [Column("name", "<")]
    columns += [Column("runs", drop=3)] if runs else []
    columns += [Column("input", drop=2), Column("output", drop=1), Column("total"), Column("cost")]
    columns += [Column("wall", drop=4)] if wall else []
    rows = []
    for name, t in items:
        row = [name] + ([f"{t.steps:,}"] if runs else [])
        row += [f"{t.usage.input:,}", f"{t.usage.output:,}", f"{t.usage.total:,}"]
        row.append(_cost(t, t.cost_micro_usd))
        # records outside steps are not timed: no wall clock, rather than 0.00s
        row += ["-" if name == NO_STEP else format_duration(t.wall_ms / 1000)] if wall else []
        rows.append(row)
    return columns, rows


def _tables(
    report: TokenReport,
    labels: Mapping[str, str],
    width: int | None,
    top: int,
    transcripts: bool,
) -> list[Line]:
    from ..summary import NO_STEP

    summary = report.summary
    lines: list[Line] = []
    tests = top_by_cost(summary.by_test, top)
    if tests:
        shown = f"{len(tests)} of {len(summary.by_test)}"
        lines += [("", None), (f"Top {labels['test']}s by cost ({shown}):", None)]
        columns, rows = _totals_rows(tests, runs=False, wall=False)
        columns[0] = Column(labels["test"], "<")
        lines += _table(columns, rows, width)
    if transcripts and summary.by_case:
        lines += [("", None), (f"Per {labels['case']}:", None)]
        columns, rows = _totals_rows(list(summary.by_case.items()), runs=False, wall=False)
        columns[0] = Column(labels["case"], "<")
        lines += _table(columns, rows, width)
    # Records outside any step make a "(no step)" row; alone, it says nothing about steps.
    if summary.by_step and set(summary.by_step) != {NO_STEP}:
        lines += [("", None), (f"Per {labels['step']}:", None)]
        columns, rows = _totals_rows(
            list(summary.by_step.items()), runs=not transcripts, wall=not transcripts
        )
        columns[0] = Column(labels["step"], "<")
        lines += _table(columns, rows, width)
    if summary.by_model:
        by_model, aliases = summary.rows_by_model_id()
        lines += [("", None), ("Per model:", None), *_model_table(by_model, width)]
        lines += [
            (f"Model names: {model_id} = {' + '.join(names)}", None)
            for model_id, names in aliases.items()
        ]
    return lines


def top_by_cost(by_test: Mapping[str, _T], top: int) -> list[tuple[str, _T]]:
    """The `top` groups that cost most: money spent, then recorded (replayed) cost, then
    tokens, then name (the order of the section's top tests, in both kinds of summary)."""

    def order(item: tuple[str, Any]) -> tuple[int, int, int, str]:
        name, totals = item
        spent, recorded = totals.cost_micro_usd or 0, totals.replayed_cost_micro_usd or 0
        return (-spent, -recorded, -totals.usage.total, name)

    return sorted(by_test.items(), key=order)[:top]


def _model_table(by_model: Mapping[str, TokenTotals], width: int | None) -> list[Line]:
    """Per-model counts; the 1-hour cache write and web search columns only when some model
    has them, so that tables of runs without them stay as narrow as before."""
    one_hour = any(t.usage.cache_write_1h for t in by_model.values())
    searches = any(t.usage.web_searches for t in by_model.values())
    # Dropped first: how records were priced, the call count, then the parts of a count
    # (reasoning of output, 1-hour of cache writes), web searches; cache reads go last.
    columns = [
        Column("model", "<"),
        Column("calls", drop=6),
        Column("input"),
        Column("cache read", drop=1),
        Column("cache write", drop=2),
    ]
    columns += [Column("1h write", drop=4)] if one_hour else []
    columns += [Column("output"), Column("reasoning", drop=5)]
    columns += [Column("web searches", drop=3)] if searches else []
    columns += [Column("cost"), Column("priced by", "<", drop=7)]
    rows = []
    for name, t in by_model.items():
        u = t.usage
        row = [name, f"{t.records:,}", f"{u.input:,}", _opt(u.cache_read), _opt(u.cache_write)]
        row += [_opt(u.cache_write_1h)] if one_hour else []
        row += [f"{u.output:,}", _opt(u.reasoning)] + ([_opt(u.web_searches)] if searches else [])
        sources = ", ".join(source.value for source in t.records_by_price_source)
        row += [_cost(t, t.cost_micro_usd), sources]
        rows.append(row)
    return _table(columns, rows, width)


_STATUS_STYLE = {"exceeded": "red", "warn": "yellow"}


def budget_label(entry: BudgetEntry) -> str:
    """A budget's row name: its scope, with the test of a step or case budget and the attempt
    of a rerun, so that rows of one step in two tests, or of two attempts, are told apart."""
    label = entry.scope
    if entry.test_id and entry.scope.startswith(("step ", "case ")):
        label += f" in {entry.test_id.rpartition('::')[2]}"
    if entry.attempt and entry.attempt > 1:
        label += f" (attempt {entry.attempt})"
    return label


def _budgets(report: TokenReport, width: int | None) -> list[Line]:
    if not report.budgets:
        return []
    rows = []
    styles = []
    for entry in report.budgets:
        usd = entry.channel.value == "micro_usd"

        def show(value: int, usd: bool = usd) -> str:
            return format_usd(value) if usd else f"{value:,}"

        rows.append(
            [
                budget_label(entry),
                "usd" if usd else entry.channel.value,
                show(entry.limit),
                show(entry.used),
                show(entry.remaining),
                f"{entry.percent:g}%",
                entry.status.value,
            ]
        )
        styles.append(_STATUS_STYLE.get(entry.status.value))
    columns = [
        Column("budget", "<"),
        Column("channel", "<"),
        Column("limit"),
        Column("used"),
        Column("remaining", drop=1),
        Column("used %"),
        Column("status", "<"),
    ]
    return [("", None), ("Budgets:", None), *_table(columns, rows, width, styles)]


def _wrap(lines: list[Line], width: int | None) -> list[Line]:
    """Text lines longer than `width` wrapped (tables already fit), continued indented."""
    if width is None:
        return lines
    import textwrap

    out: list[Line] = []
    for text, style in lines:
        if len(text) <= width:
            out.append((text, style))
            continue
        indent = text[: len(text) - len(text.lstrip())]
        wrapped = textwrap.wrap(
            text,
            width,
            subsequent_indent=indent + "  ",
            break_long_words=True,
            break_on_hyphens=False,
        )
        out.extend((part, style) for part in wrapped)
    return out


def fit_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None
) -> list[str]:
    """A plain table that fits `width`, as the section's tables do (columns dropped by their
    `drop` priority, the first column shortened in its middle)."""
    return [text for text, _ in _table(columns, rows, width)]


def fit_lines(lines: Sequence[str], width: int | None) -> list[str]:
    """Text lines wrapped to `width`, continued indented (for sections printed elsewhere)."""
    return [text for text, _ in _wrap([(line, None) for line in lines], width)]


def render_lines(
    report: TokenReport,
    *,
    tables: bool = True,
    labels: Mapping[str, str] = TEST_LABELS,
    width: int | None = None,
    top: int = 10,
    transcripts: bool = False,
) -> list[Line]:
    """The lines of the Token & Cost section (without its title bar), each with its colour.

    `width` is the terminal's: no line is wider (tables drop columns by priority and
    shorten names in their middle; text wraps). `top` is how many tests the "Top tests"
    table shows (0: none). `labels` names the summary's test, case and step groups (an
    ingest report's are sessions, days and sources); `transcripts` lays the tables out for
    transcripts: a per-day table, and no step runs or wall clock, which mean nothing there.
    """
    if report.summary.totals.records == 0:
        return _wrap([(NO_TOKENS, None), *_budgets(report, width), *_gate_lines(report)], width)
    lines = _headline(report, labels) + _notes(report) + _budgets(report, width)
    lines += _gate_lines(report)
    if tables:
        lines += _tables(report, labels, width, top, transcripts)
    return _wrap(lines, width)


def render_report(
    report: TokenReport,
    *,
    tables: bool = True,
    labels: Mapping[str, str] = TEST_LABELS,
    width: int | None = None,
    top: int = 10,
    transcripts: bool = False,
) -> list[str]:
    """The lines of the Token & Cost section (without its title bar), without colour."""
    return [
        text
        for text, _ in render_lines(
            report, tables=tables, labels=labels, width=width, top=top, transcripts=transcripts
        )
    ]


_VERDICT_LABELS = {"pass": "PASS", "fail": "FAIL", "no-baseline": "WARN", "not-recorded": "WARN"}


def verdict_label(status: str, would_be: str | None = None) -> str:
    """A gate verdict's word: PASS, FAIL, WARN, or NOT ENFORCED (would FAIL) for a gate of an
    interrupted run."""
    if status == "not-enforced":
        return f"NOT ENFORCED (would {_VERDICT_LABELS.get(would_be or '', '?')})"
    return _VERDICT_LABELS[status]


def render_gates(report: TokenReport) -> list[str]:
    """The baseline a run was compared with, and the verdict of each cost gate."""
    lines: list[str] = []
    baseline = report.baseline
    if baseline is not None:
        if baseline.run_id is None:
            lines.append(f"Baseline: none ({baseline.note})")
        else:
            parts = [f"{baseline.started:%Y-%m-%d %H:%M} UTC"] if baseline.started else []
            if baseline.git_branch or baseline.git_commit:  # outside git: neither
                parts.append(f"{baseline.git_branch or '?'}@{(baseline.git_commit or '?')[:9]}")
            where = f"{', '.join(parts)}; " if parts else ""
            lines.append(f"Baseline: run {baseline.run_id} ({where}from {baseline.source})")
    lines += [f"Gate {verdict_label(v.status, v.would_be)}: {v.message}" for v in report.gates]
    return ["", *lines] if lines else []


def _gate_lines(report: TokenReport) -> list[Line]:
    lines = render_gates(report)
    return [(text, "red" if text.startswith("Gate FAIL") else None) for text in lines]
