"""Comparing two runs: per-test, per-step and per-model changes, and the cost change split
into what tokens changed and what prices changed (pytest-free).

A side of a comparison (`Snapshot`) comes from the run history, from a saved
`token-report.json` (or the output folder holding it: a baseline artifact saved by CI), or
from the run in progress. The price/token split re-prices the base run's usage at the head's
prices: `price effect = base usage at head prices - base cost`, `token effect = head cost -
base usage at head prices`, so the two add up to the cost change exactly. The base usage is
re-priced record by record when the base run's `records.jsonl` is still there (long-context
tiers depend on each request), else from its per-model totals, and the comparison says which.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ReportFileError, TokenCostError
from ..runfiles import RECORDS_NAME, REPORT_NAME, RUNS_DIR
from .history import (
    HISTORY_NAME,
    Amounts,
    HistoryError,
    RunRow,
    history_path,
    read_aggregates,
    read_run,
)

if TYPE_CHECKING:
    from ..pricing import Pricer
    from ..records import TokenRecord, Usage
    from ..summary import TokenSummary
    from .document import TokenReport

__all__ = [
    "Comparison",
    "Delta",
    "PriceSplit",
    "PricingInfo",
    "Snapshot",
    "compare",
    "dumps",
    "file_sha256",
    "render_compare",
    "resolve_side",
    "snapshot_from_report",
    "snapshot_from_run",
    "snapshot_from_summary",
]

#: One request to re-price: model, provider, usage, and nothing else.
UsageItem = tuple[str | None, str | None, "Usage"]


def file_sha256(path: Path | None) -> str | None:
    """sha256 of a file's bytes, or None when there is no such file."""
    if path is None:
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class PricingInfo:
    """What priced a run: enough to build the same pricer again."""

    genai_prices_version: str | None = None
    override_file: str | None = None
    override_sha256: str | None = None
    default_rate: str | None = None
    """``IN,OUT`` USD per MTok."""
    default_rate_unknown: bool = False


@dataclass
class Snapshot:
    """One side of a comparison: a run's totals and breakdowns, and how to re-price it."""

    label: str
    run_id: str | None
    started: datetime | None
    totals: Amounts
    by_test: dict[str, Amounts]
    by_step: dict[str, Amounts]
    by_model: dict[str, Amounts]
    pricing: PricingInfo = field(default_factory=PricingInfo)
    git_branch: str | None = None
    git_commit: str | None = None
    source: str = "history"
    load_items: Callable[[], tuple[list[UsageItem], str]] | None = None
    """The run's usage for re-pricing, and how it was obtained (records or per-model)."""


@dataclass(frozen=True)
class Delta:
    """One test / step / model in both runs (`None` on the side where it is missing)."""

    key: str
    base: Amounts | None
    head: Amounts | None

    @property
    def status(self) -> str:
        """new, removed, changed or same."""
        if self.base is None:
            return "new"
        if self.head is None:
            return "removed"
        return "same" if self.base == self.head else "changed"

    @property
    def tokens_change(self) -> int:
        """Head minus base total tokens (a missing side counts 0)."""
        return (self.head.total if self.head else 0) - (self.base.total if self.base else 0)

    @property
    def cost_change(self) -> int | None:
        """Head minus base cost in micro-USD; None when either is not recorded."""
        base = self.base.cost_micro_usd if self.base else 0
        head = self.head.cost_micro_usd if self.head else 0
        return None if base is None or head is None else head - base


@dataclass(frozen=True)
class PriceSplit:
    """The cost change, split: from tokens, from prices (micro-USD; None: cannot be split)."""

    base_at_head_prices: int | None
    from_tokens: int | None
    from_prices: int | None
    method: str
    """How the base usage was re-priced ("records": per request; "per-model totals")."""
    note: str | None = None


@dataclass
class Comparison:
    """Two runs side by side."""

    base: Snapshot
    head: Snapshot
    totals: Delta
    tests: list[Delta]
    steps: list[Delta]
    models: list[Delta]
    split: PriceSplit

    @property
    def new_tests(self) -> list[str]:
        """Tests with records in the head run only."""
        return [d.key for d in self.tests if d.status == "new"]

    @property
    def removed_tests(self) -> list[str]:
        """Tests with records in the base run only."""
        return [d.key for d in self.tests if d.status == "removed"]


# -- sides --------------------------------------------------------------------------------------


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _records_items(path: Path, run_id: str | None, totals: Amounts) -> list[UsageItem] | None:
    """The usage of every record of `path` that was spent (not replayed: a replay's cost is
    not in the money compared), when the file holds exactly the run's records."""
    from ..records import TokenRecord

    if not path.is_file():
        return None
    items: list[UsageItem] = []
    count = tokens = 0
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = TokenRecord.model_validate_json(line)
                if run_id is not None and record.run_id not in (None, run_id):
                    return None
                count += 1
                tokens += record.usage.total
                if not record.replayed:
                    items.append((record.model, record.provider, record.usage))
    except (OSError, ValueError):
        return None
    # only when they add up to the run's totals: never re-price a different set of requests
    if count != totals.records or tokens != totals.total:
        return None
    return items


def _model_items(by_model: Mapping[str, Amounts]) -> list[UsageItem]:
    from ..records import Usage
    from ..summary import NO_MODEL

    return [
        (
            None if name == NO_MODEL else name,
            None,
            Usage.model_construct(
                input=a.input,
                output=a.output,
                cache_read=a.cache_read,
                cache_write=a.cache_write,
                reasoning=a.reasoning,
                cache_write_1h=None,
                web_searches=None,
            ),
        )
        for name, a in by_model.items()
    ]


#: The base's usage cannot be re-priced without its replayed calls (records gone).
_UNSPLITTABLE = "unsplittable"


def _loader(
    records: Iterable[Path], run_id: str | None, totals: Amounts, by_model: dict[str, Amounts]
) -> Callable[[], tuple[list[UsageItem], str]]:
    def load() -> tuple[list[UsageItem], str]:
        for path in records:
            items = _records_items(path, run_id, totals)
            if items is not None:
                return items, "records"
        if any(amounts.replayed_records != 0 for amounts in by_model.values()):
            # replayed usage is not split by channel in the totals: it cannot be left out
            return [], _UNSPLITTABLE
        return _model_items(by_model), "per-model totals"

    return load


def snapshot_from_run(where: Path, row: RunRow, label: str) -> Snapshot:
    """A history run as a comparison side (`where`: the output folder or history file)."""
    groups: dict[str, dict[str, Amounts]] = {"test": {}, "step": {}, "model": {}}
    for aggregate in read_aggregates(where, row.run_id):
        if aggregate.kind in groups:
            groups[aggregate.kind][aggregate.key] = aggregate.amounts
    folder = history_path(where).parent
    return Snapshot(
        label=label,
        run_id=row.run_id,
        started=_parse_time(row.started),
        totals=row.totals,
        by_test=groups["test"],
        by_step=groups["step"],
        by_model=groups["model"],
        pricing=PricingInfo(
            row.genai_prices_version,
            row.override_file,
            row.override_sha256,
            row.default_rate,
            row.default_rate_unknown,
        ),
        git_branch=row.git_branch,
        git_commit=row.git_commit,
        source="history",
        load_items=_loader(
            [folder / RUNS_DIR / row.run_id / RECORDS_NAME], row.run_id, row.totals, groups["model"]
        ),
    )


_RATE_TEXT = re.compile(r"^\$([\d.]+)/\$([\d.]+) per MTok$")


def snapshot_from_summary(
    summary: TokenSummary,
    *,
    label: str,
    run_id: str | None,
    started: datetime | None,
    pricing: PricingInfo,
    source: str,
    folder: Path | None = None,
    records: list[TokenRecord] | None = None,
    git: tuple[str | None, str | None] = (None, None),
) -> Snapshot:
    """A run's summary as a comparison side; its usage for re-pricing is `records` when
    given, else the records.jsonl in `folder` (or its run's folder) when they are the run's."""
    totals = Amounts.of(summary.totals)
    # one row per model, as the section shows it (and the history keeps it)
    by_model = {key: Amounts.of(t) for key, t in summary.rows_by_model_id()[0].items()}
    if records is not None:
        items: list[UsageItem] = [(r.model, r.provider, r.usage) for r in records]

        def load() -> tuple[list[UsageItem], str]:
            return items, "records"

        loader = load
    else:
        candidates = []
        if folder is not None:
            candidates = [folder / RECORDS_NAME]
            if run_id is not None:
                candidates.append(folder / RUNS_DIR / run_id / RECORDS_NAME)
        loader = _loader(candidates, run_id, totals, by_model)
    return Snapshot(
        label=label,
        run_id=run_id,
        started=started,
        totals=totals,
        by_test={key: Amounts.of(t) for key, t in summary.by_test.items()},
        by_step={key: Amounts.of(t) for key, t in summary.by_step.items()},
        by_model=by_model,
        pricing=pricing,
        git_branch=git[1],
        git_commit=git[0],
        source=source,
        load_items=loader,
    )


def snapshot_from_report(
    report: TokenReport,
    label: str,
    source: str,
    folder: Path | None = None,
    git: tuple[str | None, str | None] = (None, None),
) -> Snapshot:
    """A saved report as a comparison side."""
    rate = _RATE_TEXT.match(report.prices.default_rate)
    pricing = PricingInfo(
        report.prices.genai_prices_version,
        report.prices.override_file,
        report.prices.override_sha256,
        f"{rate.group(1)},{rate.group(2)}" if rate else None,
        report.prices.default_rate_for_unknown_models,
    )
    return snapshot_from_summary(
        report.summary,
        label=label,
        run_id=report.run.run_id,
        started=report.run.started,
        pricing=pricing,
        source=source,
        folder=folder,
        git=git,
    )


def _looks_like_ref(ref: str) -> bool:
    return ref.startswith("-") and ref[1:].isdigit()


def resolve_side(ref: str, output_dir: Path, label: str) -> Snapshot:
    """A comparison side from REF: a run id or negative index in the history of
    `output_dir`, or a path to a `token-report.json` or to an output folder."""
    from .document import read_report

    path = Path(ref)
    if not _looks_like_ref(ref) and (path.exists() or "/" in ref or ref.endswith(".json")):
        report_file = path / REPORT_NAME if path.is_dir() else path
        if not report_file.is_file():
            raise ReportFileError(
                f"no {REPORT_NAME} at {report_file}; give a run id, -N, a token-report.json or "
                "an output folder holding one"
            )
        report = read_report(report_file)
        folder = report_file.parent
        commit = branch = None
        history = folder / HISTORY_NAME
        if history.is_file():  # a saved output folder: its history knows the commit
            try:
                row = read_run(history, report.run.run_id)
                commit, branch = row.git_commit, row.git_branch
            except HistoryError:
                pass
        return snapshot_from_report(
            report, label, str(report_file), folder=folder, git=(commit, branch)
        )
    row = read_run(output_dir, ref)
    return snapshot_from_run(output_dir, row, label)


# -- comparing ----------------------------------------------------------------------------------


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sorts ``test_slow[2]`` before ``test_slow[10]``: runs of digits compare as numbers."""
    return tuple(
        (1, int(part)) if part.isdigit() else (0, part) for part in _DIGITS.split(name) if part
    )


def _deltas(base: Mapping[str, Amounts], head: Mapping[str, Amounts]) -> list[Delta]:
    keys = sorted(base.keys() | head.keys(), key=natural_key)
    return [Delta(key, base.get(key), head.get(key)) for key in keys]


def head_pricer(head: Snapshot) -> tuple[Pricer | None, str | None]:
    """A pricer with the head run's prices, or None and why it cannot be built."""
    from ..pricing import Pricer, Rate, load_price_overrides, price_data_version

    pricing = head.pricing
    notes = []
    overrides = None
    if pricing.override_file is not None:
        path = Path(pricing.override_file)
        digest = file_sha256(path)
        if digest is None:
            return None, f"the head run's price file {path} is gone: prices cannot be split"
        if pricing.override_sha256 is not None and digest != pricing.override_sha256:
            return None, (
                f"the head run's price file {path} has changed since: prices cannot be split"
            )
        try:
            overrides = load_price_overrides(path)
        except TokenCostError as exc:
            return None, str(exc)
    installed = price_data_version()
    if pricing.genai_prices_version and pricing.genai_prices_version != installed:
        notes.append(
            f"re-priced with genai-prices {installed}; the head run used "
            f"{pricing.genai_prices_version}"
        )
    rate = Rate.parse(pricing.default_rate) if pricing.default_rate else Rate.parse("3,15")
    pricer = Pricer(overrides, rate, pricing.default_rate_unknown)
    return pricer, "; ".join(notes) or None


def _repriced(items: list[UsageItem], pricer: Pricer, when: datetime) -> int | None:
    """What `items` cost at `pricer`'s prices; None when one of them has no price."""
    total = 0
    for model, provider, usage in items:
        cost = pricer.price(model, provider, usage, when).total_micro_usd
        if cost is None:
            return None
        total += cost
    return total


def _split(base: Snapshot, head: Snapshot, pricer: Pricer | None, note: str | None) -> PriceSplit:
    base_cost, head_cost = base.totals.cost_micro_usd, head.totals.cost_micro_usd
    if pricer is None or base.load_items is None:
        return PriceSplit(None, None, None, "none", note or "no usage to re-price")
    items, method = base.load_items()
    if method == _UNSPLITTABLE:
        why = (
            "the base run's records.jsonl is gone and its per-model totals hold replayed calls "
            "(or may: a run kept before the history recorded replays), which are not money "
            "spent: the cost change cannot be split"
        )
        return PriceSplit(None, None, None, "none", f"{note}; {why}" if note else why)
    repriced = _repriced(items, pricer, head.started or datetime.now(UTC))
    if method != "records":
        extra = (
            "re-priced from per-model totals (long-context tiers and provider prefixes "
            "approximated: the base run's records.jsonl is gone)"
        )
        note = f"{note}; {extra}" if note else extra
    if repriced is None or base_cost is None or head_cost is None:
        why = "some records have no price: the cost change cannot be split"
        return PriceSplit(repriced, None, None, method, f"{note}; {why}" if note else why)
    return PriceSplit(repriced, head_cost - repriced, repriced - base_cost, method, note)


def compare(base: Snapshot, head: Snapshot, pricer: Pricer | None = None) -> Comparison:
    """Compare two sides; `pricer` has the head's prices (built from its pricing info if not
    given)."""
    note = None
    if pricer is None:
        pricer, note = head_pricer(head)
    return Comparison(
        base=base,
        head=head,
        totals=Delta("total", base.totals, head.totals),
        tests=_deltas(base.by_test, head.by_test),
        steps=_deltas(base.by_step, head.by_step),
        models=_deltas(base.by_model, head.by_model),
        split=_split(base, head, pricer, note),
    )


# -- rendering ----------------------------------------------------------------------------------


def _usd(micro: int | None) -> str:
    from .render import format_usd

    return format_usd(micro)


def _signed_usd(micro: int | None) -> str:
    if micro is None:
        return "not recorded"
    text = _usd(abs(micro))
    return f"-{text}" if micro < 0 else f"+{text}"


def _percent(change: int, base: int | None) -> str:
    if base is None:
        return "-"
    if base == 0:
        return "new" if change else "0%"
    return f"{Decimal(change * 100) / base:+.1f}%"


def _side(s: Snapshot) -> str:
    parts = [s.run_id or "?"]
    if s.started is not None:
        parts.append(f"{s.started:%Y-%m-%d %H:%M} UTC")
    if s.git_branch or s.git_commit:
        parts.append(f"{s.git_branch or '?'}@{(s.git_commit or '?')[:9]}")
    if s.source != "history":
        parts.append(f"from {s.source}")
    return ", ".join(parts)


def _recorded_text(amounts: Amounts) -> str:
    if amounts.replayed_records is None:
        return "not kept"
    return _usd(amounts.replayed_cost_micro_usd) if amounts.replayed_records else "-"


def _recorded_line(base: Amounts, head: Amounts) -> list[str]:
    """Replayed calls' recorded cost on either side, apart from the money spent (Cost)."""
    if not (base.replayed_records or head.replayed_records):
        return []
    return [
        f"{'Recorded:':<9}{_recorded_text(base):>12} -> {_recorded_text(head):>12} "
        f"(replayed calls: what they would cost live, not spent; {base.replayed_records or 0} "
        f"-> {head.replayed_records or 0} call(s))"
    ]


def _total_lines(c: Comparison) -> list[str]:
    b, h = c.base.totals, c.head.totals
    lines = [f"Base: {_side(c.base)}", f"Head: {_side(c.head)}"]
    for name, base, head in (
        ("Input:", b.input, h.input),
        ("Output:", b.output, h.output),
        ("Tokens:", b.total, h.total),
    ):
        lines.append(
            f"{name:<9}{base:>12,} -> {head:>12,} ({head - base:+,}, {_percent(head - base, base)})"
        )
    change = c.totals.cost_change
    cost_line = f"{'Cost:':<9}{_usd(b.cost_micro_usd):>12} -> {_usd(h.cost_micro_usd):>12}"
    if change is not None:
        cost_line += f" ({_signed_usd(change)}, {_percent(change, b.cost_micro_usd)})"
    lines.append(cost_line)
    lines += _recorded_line(b, h)
    split = c.split
    if split.from_tokens is not None and split.from_prices is not None:
        lines.append(
            f"Cost change: {_signed_usd(change)} = {_signed_usd(split.from_tokens)} from tokens, "
            f"{_signed_usd(split.from_prices)} from prices (base usage at the head's prices: "
            f"{_usd(split.base_at_head_prices)}, re-priced from {split.method})"
        )
    if split.note:
        lines.append(f"Note: {split.note}")
    return lines


#: Characters that Markdown would read as markup in a test id or model name; an underscore
#: inside a word (`test_x`) is not emphasis and stays as it is, readable in the raw text.
_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]<>|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(text: str) -> str:
    """`text` as literal Markdown: a `|` in a parametrize id would split a table row, and a
    `<script>` or `<img ...>` would be HTML in a pull-request comment."""
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


_TABLE_HEADERS = ("input", "output", "base tokens", "head tokens", "change", "cost change")
#: In a narrow terminal, the base's total goes first, then the input and output changes: the
#: head's total, the change and the cost change stay (drop order per column, 0: never).
_TABLE_DROPS = (0, 4, 3, 5, 0, 2, 0)


def _delta_row(d: Delta, name: Callable[[str], str]) -> tuple[str, ...]:
    base, head = d.base or Amounts(), d.head or Amounts()
    return (
        name(d.key) if d.status == "changed" else f"{name(d.key)} ({d.status})",
        f"{head.input - base.input:+,}",
        f"{head.output - base.output:+,}",
        f"{base.total:,}" if d.base else "-",
        f"{head.total:,}" if d.head else "-",
        _percent(d.tokens_change, base.total if d.base else None),
        _signed_usd(d.cost_change),
    )


def _grid(
    headers: list[str], rows: list[tuple[str, ...]], fmt: str, width: int | None
) -> list[str]:
    """The rows as a GitHub Markdown table, or a terminal table fitting `width`."""
    if fmt == "markdown":
        from tabulate import tabulate

        # a table starts its own block: never a paragraph's continuation
        colalign = ("left", *("right",) * (len(headers) - 1))
        return ["", *tabulate(rows, headers, tablefmt="github", colalign=colalign).splitlines()]
    from .render import Column, fit_table

    columns = [
        Column(header, "<" if i == 0 else ">", _TABLE_DROPS[i]) for i, header in enumerate(headers)
    ]
    return fit_table(columns, rows, width)


def _table(
    deltas: list[Delta], what: str, fmt: str, limit: int | None, width: int | None = None
) -> list[str]:
    changed = [d for d in deltas if d.status != "same"]
    if not changed:
        if not deltas:
            return []
        # in Markdown a blank line first: a line right after the list would join its last item
        said = f"{what}: no changes ({len(deltas)} unchanged)"
        return ["", said] if fmt == "markdown" else [said]
    changed.sort(
        key=lambda d: (-abs(d.cost_change or 0), -abs(d.tokens_change), natural_key(d.key))
    )
    shown = changed if limit is None else changed[:limit]
    name = _md if fmt == "markdown" else str
    rows = [_delta_row(d, name) for d in shown]
    headers = [what.lower().removesuffix("s"), *_TABLE_HEADERS]
    lines = ["", f"{what} ({len(changed)} changed, {len(deltas) - len(changed)} unchanged):"]
    lines += _grid(headers, rows, fmt, width)
    if len(shown) < len(changed):
        lines.append(f"... and {len(changed) - len(shown)} more")
    return lines


def _names(title: str, names: list[str], fmt: str) -> list[str]:
    if not names:
        return []
    if fmt == "markdown":
        names = [_md(n) for n in names]
    shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
    return [f"{title}: {shown}"]


def render_compare(
    c: Comparison, fmt: str = "term", limit: int | None = 20, width: int | None = None
) -> list[str]:
    """The lines of a comparison, as text (`term`, fitting `width` columns when given) or
    Markdown (`markdown`)."""
    lines = _total_lines(c)
    lines += _names("New tests", c.new_tests, fmt) + _names("Removed tests", c.removed_tests, fmt)
    if fmt == "markdown":  # one list: a line after it would join its last item
        lines = [f"- {line}" for line in lines]
    elif width is not None:
        from .render import fit_lines

        lines = fit_lines(lines, width)
    lines += _table(c.tests, "Tests", fmt, limit, width)
    lines += _table(c.steps, "Steps", fmt, limit, width)
    lines += _table(c.models, "Models", fmt, limit, width)
    return lines


def _delta_json(d: Delta) -> dict[str, Any]:
    return {
        "key": d.key,
        "status": d.status,
        "base": d.base.as_json() if d.base else None,
        "head": d.head.as_json() if d.head else None,
        "tokens_change": d.tokens_change,
        "cost_change_micro_usd": d.cost_change,
    }


def _side_json(s: Snapshot) -> dict[str, Any]:
    return {
        "run_id": s.run_id,
        "started": s.started.isoformat() if s.started else None,
        "git_branch": s.git_branch,
        "git_commit": s.git_commit,
        "source": s.source,
        "totals": s.totals.as_json(),
    }


def comparison_json(c: Comparison) -> dict[str, Any]:
    """The comparison as plain JSON types."""
    return {
        "base": _side_json(c.base),
        "head": _side_json(c.head),
        "totals": _delta_json(c.totals),
        "price_split": {
            "base_at_head_prices_micro_usd": c.split.base_at_head_prices,
            "from_tokens_micro_usd": c.split.from_tokens,
            "from_prices_micro_usd": c.split.from_prices,
            "method": c.split.method,
            "note": c.split.note,
        },
        "new_tests": c.new_tests,
        "removed_tests": c.removed_tests,
        "tests": [_delta_json(d) for d in c.tests],
        "steps": [_delta_json(d) for d in c.steps],
        "models": [_delta_json(d) for d in c.models],
    }


def dumps(c: Comparison) -> str:
    """The comparison as a JSON document."""
    return json.dumps(comparison_json(c), indent=2)
