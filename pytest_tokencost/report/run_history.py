"""A pytest run's side of the history: its baseline, its gates, and its row (pytest-free).

The process that writes the reports (single, or the xdist controller) calls, at the end of the
session, `before_report` (opens the history, finds the baseline, compares, decides the gates:
their verdicts go into the report) and, once the report is built, `after_report` (appends the
run). Nothing here raises into the session: a history that cannot be opened or written is a
warning, and the run goes on.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .gate_options import AUTO, HistorySettings

if TYPE_CHECKING:
    from ..gitinfo import GitInfo
    from ..session import RunState
    from ..summary import TokenSummary
    from .ci import SummarySection
    from .compare import Comparison, Snapshot
    from .document import Baseline, GateVerdict
    from .history import HistoryStore, RunRow

__all__ = ["RunHistory"]


class RunHistory:
    """History, comparison and gates of one run."""

    def __init__(self, settings: HistorySettings, rootdir: Path) -> None:
        self.settings = settings
        self.rootdir = rootdir
        self.comparison: Comparison | None = None
        self.baseline: Baseline | None = None
        #: What the Token & Cost section shows (printed instead when it is not printed).
        self.warnings: list[str] = []
        #: Problems met after the report was written: always printed.
        self.late_warnings: list[str] = []
        self._store: HistoryStore | None = None
        self._git: GitInfo | None = None
        #: Whether this run was interrupted (its comparison is of partial totals).
        self.interrupted = False

    @property
    def active(self) -> bool:
        """Whether this run touches the history at all."""
        s = self.settings
        return s.enabled or s.needs_baseline or bool(s.fail_over)

    def git(self) -> GitInfo:
        """The work tree's commit, branch and dirty flag, read once."""
        if self._git is None:
            from ..gitinfo import read_git

            self._git = read_git(self.rootdir)
        return self._git

    # -- before the report ---------------------------------------------------------------------

    def before_report(self, state: RunState, interrupted: bool) -> list[str]:
        """Open the history, compare with the baseline, decide the gates (their verdicts go
        to `state.gates`). Returns the error lines of failed gates."""
        self.interrupted = interrupted
        if self.settings.enabled:
            self._open(state)
        s = self.settings
        if not (s.needs_baseline or s.fail_over):
            return []
        from ..summary import TokenSummary

        summary = TokenSummary.from_records(state.records, state.runs)
        why = self._compare(state, summary) if s.needs_baseline else ""
        state.baseline = self.baseline
        if s.compare is not None:  # the Markdown summary holds what the terminal shows
            state.summary_sections.append(self._comparison_section())
        verdicts = self._verdicts(summary, why)
        if interrupted:  # the run already fails; its partial totals prove nothing
            verdicts = [_not_enforced(v) for v in verdicts]
        state.gates = verdicts
        self.warnings += [v.message for v in verdicts if v.status == "not-recorded"]
        return [] if interrupted else _gate_errors(verdicts)

    def _comparison_section(self) -> SummarySection:
        from .ci import comparison_section

        note = self.baseline.note if self.baseline is not None else None
        title = "C" + self.compare_title()[1:]
        return comparison_section(title, self.comparison, note)

    def _verdicts(self, summary: TokenSummary, why: str) -> list[GateVerdict]:
        """Every gate's verdict: comparison gates (`why`: why there is no baseline), then
        the gates on this run's totals."""
        from .gates import evaluate_compare_fail, evaluate_fail_over
        from .history import Amounts

        s = self.settings
        verdicts = [evaluate_compare_fail(g, self.comparison, why) for g in s.compare_fail]
        return verdicts + [evaluate_fail_over(g, Amounts.of(summary.totals)) for g in s.fail_over]

    def _open(self, state: RunState) -> None:
        from ..outdir import ensure_output_dir
        from .history import HISTORY_NAME, HistoryStore

        path = state.settings.output_dir / HISTORY_NAME
        try:
            ensure_output_dir(state.settings.output_dir)
            if path.is_symlink():
                raise OSError(f"{path} is a symbolic link; remove it")
            self._store, warnings = HistoryStore.open(path)
        except (OSError, sqlite3.Error) as exc:
            warnings = [f"run history {path} cannot be used ({exc}); this run is not in it"]
        state.warnings.extend(warnings)
        self.warnings.extend(warnings)

    def _auto_baseline(self, output_dir: Path, run_id: str) -> RunRow | None:
        from .history import read_runs

        runs = [
            row
            for row in read_runs(output_dir, last=200)
            if row.run_id != run_id and not row.interrupted
        ]
        branch = self.git().branch
        same = [row for row in runs if branch is not None and row.git_branch == branch]
        candidates = same or runs
        return candidates[0] if candidates else None

    def _compare(self, state: RunState, summary: Any) -> str:
        """Find the baseline and compare; returns why there is none when there is none."""
        from ..errors import TokenCostError
        from .compare import compare, resolve_side, snapshot_from_run, snapshot_from_summary
        from .document import Baseline

        ref = self.settings.compare or AUTO
        output_dir = state.settings.output_dir
        base: Snapshot | None = None
        note = ""
        try:
            if ref == AUTO:
                row = self._auto_baseline(output_dir, state.run_id)
                if row is not None:
                    base = snapshot_from_run(output_dir, row, "base")
                else:
                    note = f"no earlier run in the history of {output_dir}"
            else:
                base = resolve_side(ref, output_dir, "base")
        except TokenCostError as exc:
            note = str(exc)
        if base is None:
            self.baseline = Baseline(ref=ref, run_id=None, source="none", note=note)
            self.warnings.append(f"no baseline to compare with: {note}")
            return f"no baseline ({note})"
        git = self.git()
        head = snapshot_from_summary(
            summary,
            label="head",
            run_id=state.run_id,
            started=state.started,
            pricing=state.pricing_info(),
            records=state.records,
            git=(git.commit, git.branch),
            source="this run",
        )
        self.comparison = compare(base, head, pricer=state.pricer())
        self.baseline = Baseline(
            ref=ref,
            run_id=base.run_id,
            source=base.source,
            started=base.started,
            git_branch=base.git_branch,
            git_commit=base.git_commit,
        )
        return ""

    # -- after the report ----------------------------------------------------------------------

    def after_report(self, state: RunState, calibration: list[Any]) -> None:
        """Append the run (its report and records) to the history."""
        store = self._store
        if store is None or not state.has_report:
            return
        from .history import (
            CalibrationRow,
            HistoryStore,
            entry_from_empty_document,
            entry_from_report,
        )

        git = self.git()
        pricing = state.pricing_info()
        try:
            rows = [
                CalibrationRow(
                    scenario,
                    m.cases,
                    m.passed,
                    m.pass_rate,
                    m.m18_total_prompt_tokens,
                    m.m18_source,
                )
                for scenario, m in calibration
            ]
            empty = state.empty_report
            entry = (
                entry_from_empty_document(
                    empty,
                    git=(git.commit, git.branch, git.dirty),
                    override_sha256=pricing.override_sha256,
                    default_rate=pricing.default_rate,
                    calibration=rows,
                )
                if empty is not None
                else entry_from_report(
                    state.report,  # type: ignore[arg-type]  # has_report: it is there
                    git=(git.commit, git.branch, git.dirty),
                    override_sha256=pricing.override_sha256,
                    default_rate=pricing.default_rate,
                    calibration=rows,
                )
            )
            try:
                store.append(entry, keep=self.settings.keep)
            except sqlite3.DatabaseError as exc:
                if _environmental(exc):  # busy, disk full, permissions: not the file
                    raise
                # damaged inside (a valid header, broken pages): set it aside, start anew
                store.close()
                store, warnings = HistoryStore.reopen_damaged(store.path, exc)
                self.late_warnings.extend(warnings)
                store.append(entry, keep=self.settings.keep)
        except (OSError, sqlite3.Error) as exc:
            self.late_warnings.append(
                f"this run could not be added to the history {store.path}: {exc}"
            )
        finally:
            store.close()
            self._store = None

    # -- printing ------------------------------------------------------------------------------

    def compare_title(self) -> str:
        """What the run was compared with, as the comparison's title says it."""
        ref = self.settings.compare
        return f"compared with {'the previous run' if ref in (None, AUTO) else ref}"

    def compare_section(self, width: int | None = None) -> tuple[str, list[str]] | None:
        """The title and lines of the "compared with REF" section, when it was asked for
        (fitting `width` columns when given)."""
        if self.settings.compare is None:
            return None
        from .render import TITLE

        title = f"{TITLE}: {self.compare_title()}"
        if self.comparison is None:
            note = self.baseline.note if self.baseline is not None else None
            return title, [f"No baseline: {note or 'none found'}"]
        from .compare import render_compare

        lines = render_compare(self.comparison, width=width)
        if self.interrupted:
            lines.insert(
                2,
                "Note: this run was interrupted: its totals are partial, the tests it did not "
                "reach show as removed, and its gates are not enforced",
            )
        return title, lines


#: Said of the gates of an interrupted run.
_NOT_ENFORCED = "not enforced: the run was interrupted"


def _not_enforced(verdict: GateVerdict) -> GateVerdict:
    """The verdict of a gate of an interrupted run: not enforced, with what it would be."""
    return verdict.model_copy(
        update={
            "status": "not-enforced",
            "would_be": verdict.status,
            "message": f"{verdict.message} ({_NOT_ENFORCED})",
        }
    )


def _gate_errors(verdicts: list[GateVerdict]) -> list[str]:
    """The run-level error of each failed gate."""
    from .ci import GATE_ERROR_PREFIX
    from .gates import SHOWN_OFFENDERS, failed

    errors = []
    for verdict in failed(verdicts):
        message = f"{GATE_ERROR_PREFIX}{verdict.message}"
        # the message names the first offenders with their figures; name the rest
        others = verdict.offending_tests[SHOWN_OFFENDERS:]
        if others:
            message += f" (the other tests: {', '.join(others[:20])}"
            message += f", ... {len(others)} in all)" if len(others) > 20 else ")"
        errors.append(message)
    return errors


def _environmental(exc: sqlite3.DatabaseError) -> bool:
    """A failure of the surroundings (lock, disk, permissions), not of the file's content."""
    text = str(exc).lower()
    words = ("locked", "busy", "disk", "full", "readonly", "unable to open", "i/o")
    return isinstance(exc, sqlite3.OperationalError) and any(word in text for word in words)
