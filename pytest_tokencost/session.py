"""The run-state object behind the pytest plugin, free of pytest itself.

One `RunState` lives for a run. Its **role** is chosen once: a single process runs the tests,
collects their payloads and writes the files; under pytest-xdist a worker only runs tests (its
trackers' payloads ride on the test reports) and the controller only collects and writes. So a
run state is three parts: what a tracker needs (settings, run id, prices, the budget ledger), a
`Collector` (not in workers) and the `RunFiles` it writes (not in workers).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .money import usd_to_micro
from .runfiles import RECORDS_NAME, REPORT_NAME
from .settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from .budget import Channel
    from .collect import Collector
    from .compare import PricingInfo
    from .ledger import BudgetLedger
    from .pricing import Pricer
    from .records import ScopeRun, TokenRecord
    from .report import Baseline, GateVerdict, TokenReport
    from .runfiles import RunFiles
    from .tracker import InMemoryTokenTracker

__all__ = [
    "RECORDS_NAME",
    "REPORT_NAME",
    "Role",
    "RunState",
    "exit_status_name",
    "record_line",
]

_json_line = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def record_line(record: Any) -> str:
    """A record (its JSON document, or a `TokenRecord`) as its `records.jsonl` line: what
    pydantic's `model_dump_json` writes (a tiny float may be spelled 1e-05, not 0.00001)."""
    return _json_line(record) if isinstance(record, dict) else record.model_dump_json()


#: How many of its last payloads an interrupted xdist worker sends again.
RESEND_AFTER_INTERRUPT = 64


class Role(StrEnum):
    """What this process does in the run, chosen once when the run starts."""

    SINGLE = "single"
    """Runs the tests, collects and writes (no xdist, or `-n 0`)."""
    CONTROLLER = "controller"
    """The xdist controller: collects the workers' payloads and writes."""
    WORKER = "worker"
    """An xdist worker: runs tests; writes nothing, prints nothing."""


_EXIT_NAMES = {
    0: "passed",
    1: "failed",
    2: "interrupted",
    3: "internal-error",
    4: "usage-error",
    5: "no-tests",
}


def exit_status_name(exit_status: int | None) -> str:
    """pytest's exit code as a word for the report (`interrupted` for Ctrl-C and SIGTERM)."""
    if exit_status is None:
        return "unknown"
    return _EXIT_NAMES.get(exit_status, f"exit-{exit_status}")


class RunState:
    """Settings, prices, budgets, and (outside workers) the collected payloads and files."""

    def __init__(
        self,
        settings: Settings,
        *,
        role: Role = Role.SINGLE,
        argv: list[str],
        pytest_version: str,
        workers: int = 0,
        run_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.role = role
        self.argv = argv
        self.pytest_version = pytest_version
        self.workers = workers
        #: The calibration adapter of the run (set by `declare_harness`), else None.
        self.adapter: str | None = None
        self.started = datetime.now(UTC)
        self.run_id = run_id or f"{self.started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self._t0 = time.perf_counter()
        self._pricer: Pricer | None = None
        self.ledger: BudgetLedger | None = None
        self._report: TokenReport | None = None
        self._empty_report: dict[str, Any] | None = None
        #: Trackers whose payload has not been delivered yet (reported to the collecting
        #: process), by (test id, attempt): an interrupt exports them as they are.
        self.live: dict[tuple[str, int], InMemoryTokenTracker] = {}
        #: A worker's last delivered payloads, sent again after an interrupt.
        self.recent: deque[dict[str, Any]] = deque(maxlen=RESEND_AFTER_INTERRUPT)
        #: Set by a harness whose run must always write its reports (calibration runs).
        self.report_required = False
        #: Extra sections of the Markdown / GitHub summary (`pytest_tokencost.ci.SummarySection`):
        #: fill before the end of `pytest_sessionfinish` (a comparison, gate verdicts).
        self.summary_sections: list[Any] = []
        self.collector: Collector | None = None
        self.files: RunFiles | None = None
        #: The run compared with, and the cost gates' verdicts (see `run_history`).
        self.baseline: Baseline | None = None
        self.gates: list[GateVerdict] = []
        #: Calibration metrics per scenario, set by the harness for the run history.
        self.calibration_metrics: list[tuple[str, Any]] = []
        self._override_sha256: str | None = None
        if role is not Role.WORKER:
            self._make_collector()

    def _make_collector(self) -> None:
        from .collect import Collector
        from .runfiles import RunFiles

        self.files = RunFiles(self.settings.output_dir, self.run_id, self.settings.json_paths)
        self.collector = Collector(self._append_records)

    # -- what trackers need -----------------------------------------------------------------

    def pricer(self) -> Pricer:
        """The run's pricer, built on first use (reading the override file, if any)."""
        if self._pricer is None:
            from .price_cache import PriceCache
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
                cache=PriceCache(self.settings.output_dir),
            )
        return self._pricer

    def _override_hash(self) -> str | None:
        """sha256 of the price override file's bytes, read once (None without one)."""
        prices_file = self.settings.prices_file
        if prices_file is not None and self._override_sha256 is None:
            from .compare import file_sha256

            self._override_sha256 = file_sha256(prices_file)
        return self._override_sha256

    def pricing_info(self) -> PricingInfo:
        """What prices this run: enough for a later comparison to build the same pricer."""
        from .compare import PricingInfo
        from .versions import version

        prices_file = self.settings.prices_file
        return PricingInfo(
            genai_prices_version=version("genai-prices"),  # as `pricing.price_data_version`
            override_file=str(prices_file) if prices_file is not None else None,
            override_sha256=self._override_hash(),
            default_rate=self.settings.default_rate,
            default_rate_unknown=self.settings.default_rate_for_unknown,
        )

    def open_ledger(self) -> None:
        """With a session budget: create (writer) or join (worker) this run's budget ledger."""
        settings = self.settings
        if settings.budget_usd is None and settings.budget_tokens is None:
            return
        from .budget import Channel
        from .ledger import LEDGER_NAME, BudgetLedger
        from .runfiles import RUNS_DIR

        path = settings.output_dir / RUNS_DIR / self.run_id / LEDGER_NAME
        if self.files is None:
            self.ledger = BudgetLedger(path, self.run_id, settings.warn_at)
            return
        limits: dict[Channel, int] = {}
        if settings.budget_usd is not None:
            limits[Channel.MICRO_USD] = usd_to_micro(settings.budget_usd)
        if settings.budget_tokens is not None:
            limits[Channel.TOKENS] = settings.budget_tokens
        try:
            self.files.prepare_run_dir()
        except OSError as exc:
            from .ledger import LedgerError

            raise LedgerError(f"cannot create the budget ledger {path}: {exc}") from exc
        self.ledger = BudgetLedger.create(path, self.run_id, limits, settings.warn_at)

    def session_budget_lines(self) -> list[str]:
        """``tokens: 10,600 of 10,000 (106%)`` for every session channel."""
        from .budget import amount_text, channel_name

        if self.ledger is None:
            return []
        return [
            f"{channel_name(s.channel)}: {amount_text(s.channel, s.used)} of "
            f"{amount_text(s.channel, s.limit)} ({s.percent:g}%)"
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
        attempt: int = 1,
    ) -> InMemoryTokenTracker:
        """A tracker for one attempt of one test, priced with this run's pricer, under its
        budgets; live until its payload is `delivered`."""
        from .budget import BudgetScope
        from .tracker import InMemoryTokenTracker

        budget = None
        if limits or self.ledger is not None:
            budget = BudgetScope(
                f"test {test_id}", dict(limits or {}), warn_at=self.settings.warn_at
            )
        tracker = InMemoryTokenTracker(
            test_id=test_id,
            pricer=self.pricer(),
            budget=budget,
            ledger=self.ledger,
            warn=warn,
            run_id=self.run_id,
            attempt=attempt,
        )
        self.live[(test_id, attempt)] = tracker
        return tracker

    def export_data(
        self,
        tracker: InMemoryTokenTracker,
        *,
        interrupted: bool = False,
        extensions: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The tracker's payload as plain JSON types, as it rides on the test's report (the
        tracker stays live until `delivered`).

        A process that collects (no xdist) gets this very object back on the report and takes
        the payload as made, without validating it again.
        """
        from .payload import export_data

        data = export_data(tracker, interrupted=interrupted, extensions=extensions)
        if self.collector is not None:
            self.collector.expect(data)
        return data

    def delivered(self, data: Any) -> None:
        """A payload (as it travels) reached the collecting process: its tracker is done.

        Until then an interrupt exports the tracker again, flagged: a payload that was in
        flight when the run was cut is not lost, and one that did arrive counts once (the
        collector takes each test attempt once).
        """
        if isinstance(data, dict):
            self.live.pop((data.get("test_id"), data.get("attempt")), None)  # type: ignore[arg-type]
            if self.role is Role.WORKER:
                self.recent.append(data)

    def export_live(self, *, interrupted: bool = True) -> list[dict[str, Any]]:
        """Payloads of the trackers not delivered when the run ended (flagged `interrupted`)."""
        pending = [tracker for tracker in self.live.values() if len(tracker) or tracker.warnings]
        self.live.clear()
        return [self.export_data(tracker, interrupted=interrupted) for tracker in pending]

    # -- collecting (not in workers) --------------------------------------------------------

    def _collector(self) -> Collector:
        if self.collector is None:
            raise RuntimeError("an xdist worker's run state does not collect records")
        return self.collector

    @property
    def records(self) -> list[TokenRecord]:
        """The records collected so far."""
        return self._collector().records

    @property
    def runs(self) -> list[ScopeRun]:
        """The scope runs collected so far."""
        return self._collector().runs

    @property
    def warnings(self) -> list[str]:
        """The run's warnings so far."""
        return self._collector().warnings

    def add(self, data: dict[str, Any]) -> None:
        """Take one test's payload made in this process (`export_data`)."""
        self._collector().add_data(data, str(data.get("test_id")))
        self.live.pop((data.get("test_id"), data.get("attempt")), None)  # type: ignore[arg-type]

    def add_records(self, records: list[TokenRecord], runs: Iterable[ScopeRun] = ()) -> None:
        """Take records (and scope runs) made outside a test payload."""
        self._collector().add_records(records, runs)

    def add_warnings(self, warnings: Iterable[str]) -> None:
        """Add run-level warnings (a harness's), shown in the report."""
        self._collector().warnings.extend(warnings)

    # -- what a harness tells the run (the calibration harness; see docs/architecture.md) ---

    def declare_harness(self, adapter: str) -> None:
        """A harness runs this run's cases through `adapter`: the report names it, and every
        report is written even when nothing was recorded."""
        self.adapter = adapter
        self.report_required = True

    def set_calibration_metrics(self, metrics: Iterable[tuple[str, Any]]) -> None:
        """The harness's metrics per scenario, kept in the run history with the run."""
        self.calibration_metrics = list(metrics)

    def _append_records(self, records: list[Any]) -> None:
        """Append records (documents, or models a harness added) to `records.jsonl`."""
        if self.files is None:
            return
        self.files.append_records([record_line(record) for record in records])

    # -- finishing --------------------------------------------------------------------------

    def has_unpriced(self) -> bool:
        """True when some record of the run has no price ("not recorded")."""
        return self._collector().has_unpriced()

    def unpriced_models(self) -> list[str]:
        """Names of the models whose records have no price."""
        return self._collector().unpriced_models()

    def write_problems(self) -> list[str]:
        """Files this run could not write (disk full, permissions, a link refused)."""
        return list(self.files.problems) if self.files is not None else []

    def wants_report(self) -> bool:
        """Whether this run writes `token-report.json` (something recorded, or a report asked)."""
        collector = self._collector()
        return bool(
            collector.has_records()
            or collector.warnings
            or self.settings.reports
            or self.ledger
            or self.report_required
        )

    def _run_fields(self, exit_status: int | None) -> dict[str, Any]:
        """`RunInfo`'s fields for this run, finished now."""
        from .redact import redact_argv
        from .versions import PackageNotFoundError, version

        try:
            plugin_version = version("pytest-tokencost")
        except PackageNotFoundError:
            plugin_version = "unknown"
        return {
            "run_id": self.run_id,
            "started": self.started,
            "finished": datetime.now(UTC),
            "wall_s": time.perf_counter() - self._t0,
            "pytest_version": self.pytest_version,
            "plugin_version": plugin_version,
            "argv": redact_argv(self.argv),
            "adapter": self.adapter,
            "workers": self.workers,
            "exit_status": exit_status,
            "status": exit_status_name(exit_status),
            "interrupted_tests": list(self._collector().interrupted_tests),
            "budget_warn_at": self.settings.warn_at,
            "combined_from": [],
        }

    def _price_fields(self) -> dict[str, Any]:
        """`PriceInfo`'s fields: read from package metadata, without importing genai-prices."""
        from .empty_report import describe_rate
        from .versions import version

        prices_file = self.settings.prices_file
        return {
            "genai_prices_version": version("genai-prices"),
            "override_file": str(prices_file) if prices_file is not None else None,
            "override_sha256": self._override_hash(),
            "default_rate": describe_rate(self.settings.default_rate),
            "default_rate_for_unknown_models": self.settings.default_rate_for_unknown,
        }

    def _report_warnings(self) -> list[str]:
        """The run's warnings, each once, in order, with secrets taken out."""
        from .redact import redact

        collector = self._collector()
        return [redact(w) for w in dict.fromkeys([*collector.warnings, *self.write_problems()])]

    def _recorded_nothing(self) -> bool:
        """No records, scope runs or budgets: the report is all zeros (see `empty_report`)."""
        collector = self._collector()
        return not (collector.has_data() or self.ledger)

    def build_report(self, exit_status: int | None = None) -> TokenReport:
        """The report of everything collected so far."""
        from .report import BudgetEntry, PriceInfo, RunInfo, TokenReport
        from .report.checks import cost_checks, total_checks
        from .summary import TokenSummary

        collector = self._collector()
        records = collector.records
        session_budgets = (
            [BudgetEntry.model_validate(s, from_attributes=True) for s in self.ledger.statuses()]
            if self.ledger
            else []
        )
        return TokenReport(
            run=RunInfo(**self._run_fields(exit_status)),
            prices=PriceInfo(**self._price_fields()),
            summary=TokenSummary.from_records(records, collector.runs),
            budgets=session_budgets + collector.budgets,
            cost_checks=cost_checks(records),
            total_checks=total_checks(records),
            duplicates_dropped=collector.duplicates,
            warnings=self._report_warnings(),
            baseline=self.baseline,
            gates=self.gates,
        )

    @property
    def report(self) -> TokenReport | None:
        """The report this run wrote (None before `write_report`, or when it wrote none).

        A run that recorded nothing wrote its report from plain data; the model is made from
        it on first use here, so such a run imports no report model unless asked.
        """
        if self._report is None and self._empty_report is not None:
            from .report import TokenReport

            self._report = TokenReport.model_validate(self._empty_report)
        return self._report

    @property
    def empty_report(self) -> dict[str, Any] | None:
        """The plain-JSON report document of a run that recorded nothing (None otherwise, or
        before `write_report`): what the history keeps of such a run, without the models."""
        return self._empty_report if self._report is None else None

    @property
    def plain_empty_report(self) -> bool:
        """Whether the section is just "No tokens recorded." (an empty run without a baseline
        or gates to show), printed without building the report model."""
        return self.empty_report is not None and self.baseline is None and not self.gates

    @property
    def has_report(self) -> bool:
        """Whether `write_report` wrote a report."""
        return self._report is not None or self._empty_report is not None

    def section_lines(self) -> list[str]:
        """The lines of this run's Token & Cost section (without its title bar)."""
        if self.plain_empty_report:
            from .empty_report import NO_TOKENS

            return [NO_TOKENS]  # what `render_report` says of a report without records or budgets
        from .render import render_report

        report = self.report
        return render_report(report) if report is not None else []

    def write_report(self, exit_status: int | None) -> bool:
        """Build the report and, outside workers, publish it with the run's records.

        Returns whether a report was written (or tried: write problems are kept in `files`).
        A run without records, scope runs or budgets writes the same document from the
        standard library (`empty_report`), importing neither pydantic nor prices.
        """
        if self.files is None or not self.wants_report():
            return False
        if self._recorded_nothing():
            import json

            from .empty_report import empty_report_data

            data = empty_report_data(
                self._run_fields(exit_status),
                self._price_fields(),
                self._collector().duplicates,
                self._report_warnings(),
                self.baseline.model_dump(mode="json") if self.baseline is not None else None,
                [gate.model_dump(mode="json") for gate in self.gates],
            )
            self._empty_report = data
            self.files.publish(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            return True
        self._report = self.build_report(exit_status)
        self.files.publish(self._report.model_dump_json(indent=2) + "\n")
        return True

    def finish(self, exit_status: int | None) -> TokenReport | None:
        """Build the report and, outside workers, publish it with the run's records; return it."""
        return self.report if self.write_report(exit_status) else None
