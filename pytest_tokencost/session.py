"""The run-state object behind the pytest plugin, free of pytest itself.

One `RunState` lives for a pytest run. Trackers of single tests export their records as plain
data (it rides on the test report, through pytest-xdist when there are workers); the process
that writes files (the only process without xdist, the controller with it) collects that data,
appends it to `records.jsonl` as it arrives, and writes `token-report.json` at the end.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from .budget import Channel
    from .ledger import BudgetLedger
    from .pricing import Pricer
    from .records import ScopeRun, TokenRecord
    from .report import TokenReport
    from .tracker import InMemoryTokenTracker

__all__ = ["RECORDS_NAME", "REPORT_NAME", "RunState", "export_tracker"]

REPORT_NAME = "token-report.json"
RECORDS_NAME = "records.jsonl"


def export_tracker(tracker: InMemoryTokenTracker) -> dict[str, list[Any]]:
    """A test tracker's priced records and scope runs as JSON-ready data (for the test report)."""
    from dataclasses import asdict

    return {
        "records": [record.model_dump(mode="json") for record in tracker.records()],
        "runs": [run.model_dump(mode="json") for run in tracker.scope_runs()],
        "budgets": [
            asdict(status) for scope in tracker.budget_scopes for status in scope.statuses()
        ],
        "warnings": list(tracker.warnings),
    }


class RunState:
    """Settings, prices and collected records of one run; writes files only if `writes_files`."""

    def __init__(
        self,
        settings: Settings,
        *,
        writes_files: bool,
        argv: list[str],
        pytest_version: str,
        workers: int = 0,
        run_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.writes_files = writes_files
        self.argv = argv
        self.pytest_version = pytest_version
        self.workers = workers
        self.adapter: str | None = None
        self.started = datetime.now(UTC)
        self.run_id = run_id or f"{self.started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self._t0 = time.perf_counter()
        self._pricer: Pricer | None = None
        self.records: list[TokenRecord] = []
        self.runs: list[ScopeRun] = []
        self.warnings: list[str] = []
        self.budgets: list[dict[str, Any]] = []
        self.ledger: BudgetLedger | None = None
        self._records_file: Path | None = None
        self.report: TokenReport | None = None

    # -- prices -----------------------------------------------------------------------------

    def pricer(self) -> Pricer:
        """The run's pricer, built on first use (reading the override file, if any)."""
        if self._pricer is None:
            from .pricing import Pricer, Rate, load_price_overrides

            overrides = (
                load_price_overrides(self.settings.prices_file)
                if self.settings.prices_file is not None
                else None
            )
            self._pricer = Pricer(
                overrides,
                Rate.parse(self.settings.default_rate),
                self.settings.default_rate_for_unknown,
            )
        return self._pricer

    def open_ledger(self) -> None:
        """With a session budget: create (controller) or join (worker) the budget ledger."""
        settings = self.settings
        if settings.budget_usd is None and settings.budget_tokens is None:
            return
        from .budget import Channel
        from .ledger import LEDGER_NAME, BudgetLedger
        from .outdir import ensure_output_dir

        path = settings.output_dir / LEDGER_NAME
        if not self.writes_files:
            self.ledger = BudgetLedger(path, self.run_id, settings.warn_at)
            return
        limits: dict[Channel, int] = {}
        if settings.budget_usd is not None:
            limits[Channel.MICRO_USD] = round(settings.budget_usd * 1_000_000)
        if settings.budget_tokens is not None:
            limits[Channel.TOKENS] = settings.budget_tokens
        ensure_output_dir(settings.output_dir)
        self.ledger = BudgetLedger.create(path, self.run_id, limits, settings.warn_at)

    def session_budget_lines(self) -> list[str]:
        """``tokens: 10,600 of 10,000 (106%)`` for every session channel."""
        from .budget import _amount

        if self.ledger is None:
            return []
        return [
            f"{s.channel.value}: {_amount(s.channel, s.used)} of {_amount(s.channel, s.limit)} "
            f"({s.percent:g}%)"
            for s in self.ledger.statuses()
        ]

    def check_usd_budget_models(
        self, limits: Mapping[Channel, int], models: object, where: str
    ) -> None:
        """At set-up: a USD budget must be able to price every model the test declares."""
        from .budget import Channel
        from .records import Usage
        from .tracker import UnpricedUnderBudget

        if models is None:
            return
        if not isinstance(models, list | tuple) or not all(isinstance(m, str) for m in models):
            raise ValueError(f"{where}: models must be a list of model names, got {models!r}")
        if Channel.MICRO_USD not in limits and not (self.ledger and self.ledger.limits_usd):
            return
        now = datetime.now(UTC)
        for model in models:
            if (
                self.pricer().price(model, None, Usage(input=1, output=1), now).total_micro_usd
                is None
            ):
                raise UnpricedUnderBudget(
                    f"{where}: a USD budget covers model {model!r}, which has no known price: "
                    "add it to a --cost-prices file or pass --cost-default-rate-unknown"
                )

    def new_tracker(
        self,
        test_id: str,
        limits: Mapping[Channel, int] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> InMemoryTokenTracker:
        """A tracker for one test, priced with this run's pricer, under its budgets."""
        from .budget import BudgetScope
        from .tracker import InMemoryTokenTracker

        budget = None
        if limits or self.ledger is not None:
            budget = BudgetScope(
                f"test {test_id}", dict(limits or {}), warn_at=self.settings.warn_at
            )
        return InMemoryTokenTracker(
            test_id=test_id, pricer=self.pricer(), budget=budget, ledger=self.ledger, warn=warn
        )

    # -- collecting -------------------------------------------------------------------------

    def add(self, payload: Any, source: str) -> None:
        """Take one test's exported records; a payload that does not validate becomes a warning.

        Records are appended to `records.jsonl` at once, so an interrupted run keeps them.
        """
        from pydantic import ValidationError

        from .records import ScopeRun, TokenRecord

        try:
            records = [TokenRecord.model_validate(item) for item in payload["records"]]
            runs = [ScopeRun.model_validate(item) for item in payload["runs"]]
        except (TypeError, KeyError, ValidationError) as exc:
            self.warnings.append(f"records of {source} could not be read and are left out: {exc}")
            return
        self.add_records(records, runs)
        self.budgets.extend(payload.get("budgets", []))
        self.warnings.extend(payload.get("warnings", []))

    def add_records(self, records: list[TokenRecord], runs: Iterable[ScopeRun] = ()) -> None:
        """Take records (and scope runs); append them to `records.jsonl` at once."""
        self.records.extend(records)
        self.runs.extend(runs)
        if self.writes_files and records:
            self._append_records(records)

    def _append_records(self, records: list[TokenRecord]) -> None:
        from .outdir import append_lines, ensure_output_dir

        if self._records_file is None:
            ensure_output_dir(self.settings.output_dir)
            self._records_file = self.settings.output_dir / RECORDS_NAME
            self._records_file.write_text("", encoding="utf-8")  # this run's file starts empty
        append_lines(self._records_file, [record.model_dump_json() for record in records])

    # -- finishing --------------------------------------------------------------------------

    def has_unpriced(self) -> bool:
        """True when some record of the run has no price ("not recorded")."""
        return any(record.cost_micro_usd is None for record in self.records)

    def unpriced_models(self) -> list[str]:
        """Names of the models whose records have no price."""
        from .summary import NO_MODEL

        return sorted({r.model or NO_MODEL for r in self.records if r.cost_micro_usd is None})

    def wants_report(self) -> bool:
        """Whether this run writes `token-report.json` (something recorded, or a report asked)."""
        return bool(self.records or self.settings.reports)

    def build_report(self, exit_status: int | None = None) -> TokenReport:
        """The report of everything collected so far."""
        from importlib.metadata import PackageNotFoundError, version

        from .pricing import Rate, price_data_version
        from .report import BudgetEntry, CostCheck, PriceInfo, RunInfo, TokenReport, TotalCheck
        from .summary import TokenSummary

        try:
            plugin_version = version("pytest-tokencost")
        except PackageNotFoundError:
            plugin_version = "unknown"
        finished = datetime.now(UTC)
        prices_file = self.settings.prices_file
        return TokenReport(
            run=RunInfo(
                run_id=self.run_id,
                started=self.started,
                finished=finished,
                wall_s=time.perf_counter() - self._t0,
                pytest_version=self.pytest_version,
                plugin_version=plugin_version,
                argv=self.argv,
                adapter=self.adapter,
                workers=self.workers,
                exit_status=exit_status,
            ),
            prices=PriceInfo(
                genai_prices_version=price_data_version(),
                override_file=str(prices_file) if prices_file is not None else None,
                default_rate=Rate.parse(self.settings.default_rate).describe(),
                default_rate_for_unknown_models=self.settings.default_rate_for_unknown,
            ),
            summary=TokenSummary.from_records(self.records, self.runs),
            budgets=[BudgetEntry.model_validate(b) for b in self._budget_statuses()],
            cost_checks=[
                CostCheck(
                    test_id=r.test_id,
                    model=r.model,
                    computed_micro_usd=r.cost_micro_usd,
                    reported_micro_usd=r.reported_cost_micro_usd,
                    agrees=r.cost_micro_usd is not None
                    and abs(r.cost_micro_usd - r.reported_cost_micro_usd) <= 1,
                )
                for r in self.records
                if r.reported_cost_micro_usd is not None
            ],
            total_checks=[
                TotalCheck(
                    test_id=r.test_id,
                    model=r.model,
                    computed=r.usage.total,
                    reported=r.reported_total_tokens,
                )
                for r in self.records
                if r.reported_total_tokens is not None and r.reported_total_tokens != r.usage.total
            ],
            warnings=list(dict.fromkeys(self.warnings)),  # each once, in order
        )

    def _budget_statuses(self) -> list[dict[str, Any]]:
        from dataclasses import asdict

        session = [asdict(s) for s in self.ledger.statuses()] if self.ledger else []
        return session + self.budgets

    def finish(self, exit_status: int | None) -> TokenReport | None:
        """Build the report and, in the writing process, write it (atomically) where asked."""
        if not self.wants_report():
            return None
        from .outdir import ensure_output_dir

        self.report = self.build_report(exit_status)
        if self.writes_files:
            ensure_output_dir(self.settings.output_dir)
            if self._records_file is None:  # nothing recorded: don't leave an older run's lines
                (self.settings.output_dir / RECORDS_NAME).write_text("", encoding="utf-8")
            for path in (self.settings.output_dir / REPORT_NAME, *self.settings.json_paths):
                self.report.write(path)
        return self.report
