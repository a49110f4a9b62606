"""`tokencost ingest`: a token report of Claude Code and Codex transcripts.

The command reads transcripts (`transcripts`), makes one record per response
(`record_builder`), prices it (genai-prices through the output folder's price cache), sums the
records (`plain_summary`) and writes `records.jsonl` and `token-report.json` as a run does
(`runfiles`), then prints the Token & Cost section (`plain_render`).

All of it is plain data: no pydantic and no report model is imported (they take longer to
import than reading 20 MB of transcripts takes), unless a record has no model (the default
rate's `Rate`) or a model is not in the price cache yet (genai-prices). The documents are the
ones the models write — the same keys and values, valid against the published JSON Schema;
`tests/test_ingest_plain.py` checks them and the printed section against the models.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import TokenCostError
from .record_builder import PlainUsage, record_document, transcript_fields

if TYPE_CHECKING:
    import argparse

    from .plain_summary import PlainSummary
    from .price_cache import PriceCache
    from .record_builder import UsageLike
    from .session import RunState
    from .settings import Settings
    from .transcripts import TranscriptResponse, TranscriptSet

__all__ = ["INGEST_LABELS", "TranscriptPricer", "check_transcript_paths", "run_ingest"]

#: What an ingest report's test, case and step groups are.
INGEST_LABELS = {"test": "session", "case": "day", "step": "source"}

_NOT_RECORDED: dict[str, Any] = {
    "cost_micro_usd": None,
    "input_cost_micro_usd": None,
    "output_cost_micro_usd": None,
    "price_source": "not-recorded",
    "priced_as": None,
}
_MISSING = object()


class _Cost:
    """A record's cost fields, as `pricing.Price.record_fields` gives them."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def record_fields(self) -> dict[str, Any]:
        return self.fields


class TranscriptPricer:
    """`pricing.Pricer` for an ingest (no override file), priced through the price cache.

    A model is looked up once per (provider, name) as `Pricer` looks it up; a record without
    a model is priced at the default rate; a model nobody knows is "not recorded" unless the
    default rate is extended to unknown models.
    """

    def __init__(self, settings: Settings, cache: PriceCache) -> None:
        self._settings = settings
        self._cache = cache
        self._models: dict[tuple[str | None, str], Any] = {}

    def cost(
        self, model: str | None, provider: str | None, usage: UsageLike, when: datetime
    ) -> _Cost:
        """The cost fields of one request."""
        if not model:
            return self._default_rate(usage)
        found = self._models.get((provider, model), _MISSING)
        if found is _MISSING:
            from .genai_table import find_model

            found = find_model(self._cache.resolve, model, provider, when)
            self._models[(provider, model)] = found
        if found is None:
            if self._settings.default_rate_for_unknown:
                return self._default_rate(usage)
            return _Cost(_NOT_RECORDED)
        total, input_cost = found.micro_usd(usage, when)
        return _Cost(
            {
                "cost_micro_usd": total,
                "input_cost_micro_usd": input_cost,
                # Units without a direction (web searches) are in the output part.
                "output_cost_micro_usd": total - input_cost,
                "price_source": "genai-prices",
                "priced_as": found.priced_as,
            }
        )

    def _default_rate(self, usage: UsageLike) -> _Cost:
        from .pricing import Rate  # pydantic: only for a record without a (known) model

        total, input_cost, output_cost = Rate.parse(self._settings.default_rate).cost(usage)  # type: ignore[arg-type]
        return _Cost(
            {
                "cost_micro_usd": total,
                "input_cost_micro_usd": input_cost,
                "output_cost_micro_usd": output_cost,
                "price_source": "default-rate",
                "priced_as": "default rate",
            }
        )


def check_transcript_paths(paths: Sequence[Path]) -> None:
    """Refuse, before reading anything, paths that do not exist and folders without JSONL."""
    for path in paths:
        if not path.exists():
            raise TokenCostError(f"no such file or folder: {path}")
        if path.is_dir() and next(path.rglob("*.jsonl"), None) is None:
            raise TokenCostError(
                f"no *.jsonl transcript in folder {path} (Claude Code keeps them in "
                "~/.claude/projects, Codex in ~/.codex/sessions)"
            )


def _read(paths: Sequence[Path]) -> TranscriptSet:
    from .transcripts import read_transcripts

    transcripts = read_transcripts(paths, usage_type=PlainUsage)
    if not transcripts.responses and transcripts.problems:
        more = len(transcripts.problems) - 1
        raise TokenCostError(
            f"no usage could be read from {', '.join(map(str, paths))}: "
            f"{transcripts.problems[0]}" + (f" (and {more} more)" if more else "")
        )
    return transcripts


def _record(
    response: TranscriptResponse, seq: int, pricer: TranscriptPricer, run_id: str
) -> dict[str, Any]:
    """One response's record document: its session is the test, its day the case, its
    source (and whether a subagent answered) the step."""
    from .transcripts import provider_of

    when = response.timestamp or datetime.now(UTC)
    cost = pricer.cost(response.model, provider_of(response), response.usage, when)
    stamp = response.timestamp
    return record_document(
        transcript_fields(
            response,
            seq=seq,
            price=cost,
            timestamp=when,
            test_id=f"{response.source}:{response.session}",
            case_id=stamp.date().isoformat() if stamp is not None else None,
            step=f"{response.source} (subagent)" if response.sidechain else response.source,
            run_id=run_id,
        )
    )


def _notes(transcripts: TranscriptSet) -> list[str]:
    """What was left out, and why: in the report's warnings and printed."""
    notes: list[str] = []
    if transcripts.skipped_synthetic:
        notes.append(
            f"{transcripts.skipped_synthetic} zero-usage <synthetic> line(s) skipped (API errors "
            "Claude Code logged; no request was billed)"
        )
    if transcripts.repeated_responses:
        notes.append(
            f"{transcripts.repeated_responses} response(s) met again in another file (resumed "
            "sessions copy earlier responses) counted once"
        )
    if transcripts.repeated_files:
        notes.append(f"{transcripts.repeated_files} file(s) given more than once read once")
    return notes


def _cost_checks(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`report.CostCheck`s: records whose source reported its own cost."""
    return [
        {
            "test_id": r["test_id"],
            "model": r["model"],
            "computed_micro_usd": r["cost_micro_usd"],
            "reported_micro_usd": r["reported_cost_micro_usd"],
            "agrees": r["cost_micro_usd"] is not None
            and abs(r["cost_micro_usd"] - r["reported_cost_micro_usd"]) <= 1,
        }
        for r in records
        if r["reported_cost_micro_usd"] is not None
    ]


def _report_document(
    state: RunState, records: list[dict[str, Any]], summary: PlainSummary
) -> dict[str, Any]:
    """`TokenReport.model_dump(mode="json")` of the ingest, from plain data (no budgets,
    scope runs, total checks, baseline or gates: a transcript has none of them)."""
    from .empty_report import empty_report_data

    data = empty_report_data(
        state._run_fields(0),  # the run's own fields, as `RunState.write_report` takes them
        state._price_fields(),
        0,
        state._report_warnings(),
    )
    data["summary"] = summary.document()
    data["cost_checks"] = _cost_checks(records)
    return data


def _new_state(out: Path) -> RunState:
    from .runfiles import OutputDirError, check_output_dir
    from .session import RunState
    from .settings import Settings

    try:
        check_output_dir(out, "--out")
    except OutputDirError as exc:
        raise TokenCostError(str(exc)) from None
    return RunState(
        Settings(output_dir=out), argv=list(sys.argv), pytest_version="(not run under pytest)"
    )


def _write(
    state: RunState, records: list[dict[str, Any]], warnings: list[str]
) -> tuple[PlainSummary, dict[str, Any]] | None:
    """Write records.jsonl and token-report.json; the summary and the report document (None
    when nothing was recorded: then the plain empty report is written, if warnings ask)."""
    from .plain_summary import PlainSummary

    state.warnings.extend(warnings)
    if not records or state.files is None:
        state.write_report(0)
        return None
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    state.files.append_records([dumps(record) for record in records])
    summary = PlainSummary(records)
    report = _report_document(state, records, summary)
    state.files.publish(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return summary, report


def _print(
    args: argparse.Namespace,
    state: RunState,
    records: list[dict[str, Any]],
    written: tuple[PlainSummary, dict[str, Any]] | None,
) -> None:
    from .cli import _print_section, _width
    from .render import TITLE, Line, _wrap

    width = _width()
    if written is None and not state.has_report:
        # Nothing recorded and nothing to warn of (only lines without usage).
        print(f" {TITLE} ".center(width, "="))
        print(f"0 responses from {len(args.paths)} path(s): no tokens recorded")
        return
    lines: list[Line]
    if written is None:
        from .empty_report import NO_TOKENS

        lines = _wrap([(NO_TOKENS, None)], width)
    else:
        from .plain_render import plain_section_lines

        lines = plain_section_lines(*written, labels=INGEST_LABELS, width=width)
    head = f"{len(records)} responses from {len(args.paths)} path(s); report in {args.out}"
    _print_section([(head, None), *lines], width)


def _status(state: RunState, transcripts: TranscriptSet, out: Path) -> int:
    """2 when a file could not be written or some input could not be read, else 0."""
    if state.write_problems():
        print(f"tokencost: error: {state.write_problems()[-1]}", file=sys.stderr)
        return 2
    if transcripts.problems:
        # The report is written and lists each problem; the exit status says it is incomplete.
        print(
            f"tokencost: error: {len(transcripts.problems)} unreadable input(s) in the "
            f"transcripts (listed above as warnings, and in {out}); first: "
            f"{transcripts.problems[0]}",
            file=sys.stderr,
        )
        return 2
    return 0


def run_ingest(args: argparse.Namespace) -> int:
    """The `tokencost ingest PATH... [--out DIR]` command; its exit status."""
    from .genai_table import defer_update_modules
    from .price_cache import PriceCache

    defer_update_modules()  # genai-prices' HTTP client is never used: not loaded
    check_transcript_paths(args.paths)
    out = args.out.resolve()
    state = _new_state(out)
    transcripts = _read(args.paths)
    if transcripts.responses and state.files is not None:
        # Made now, not when the records are written: the price cache is kept in it.
        with contextlib.suppress(OSError):  # a folder that cannot be made: written later
            state.files.prepare_run_dir()
    pricer = TranscriptPricer(state.settings, PriceCache(state.settings.output_dir))
    records = [
        _record(response, seq, pricer, state.run_id)
        for seq, response in enumerate(transcripts.responses)
    ]
    notes = _notes(transcripts)
    written = _write(state, records, [*transcripts.problems, *notes])
    _print(args, state, records, written)
    if written is None and not state.has_report:
        for note in notes:
            print(f"Note: {note}")
        return 0
    return _status(state, transcripts, args.out)
