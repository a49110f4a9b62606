"""Options of the run history and the cost gates, parsed and resolved (light: loads at start-up).

`--cost-compare-fail=METRIC:LIMIT` (METRIC one of `tokens`, `input`, `output`, `usd`,
`test-tokens`, `test-usd`; LIMIT ``10%`` or an amount: tokens, or dollars for usd metrics) and
`--cost-fail-over=tokens:N|usd:X` become `Gate`s; with `--cost-compare[=REF]`,
`--cost-no-history` and `--cost-history-keep N` they make one `HistorySettings`
(command line > ini > default).
"""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from ..settings import ini_flag

__all__ = [
    "AUTO",
    "COMPARE_METRICS",
    "FAIL_OVER_METRICS",
    "Gate",
    "HistorySettings",
    "parse_compare_fail",
    "parse_fail_over",
    "parse_keep",
]

COMPARE_METRICS = ("tokens", "input", "output", "usd", "test-tokens", "test-usd")
FAIL_OVER_METRICS = ("tokens", "usd")
#: `--cost-compare` without a value: the latest earlier run on this branch, else the latest.
AUTO = "auto"


class Gate(NamedTuple):
    """One gate: a metric, and a limit (a percentage, or an absolute amount)."""

    option: str
    """``--cost-compare-fail`` or ``--cost-fail-over``."""
    metric: str
    limit: Decimal
    """Percent when `relative`, else tokens, or dollars for usd metrics."""
    relative: bool
    text: str
    """The gate as given (``tokens:10%``)."""

    @property
    def is_usd(self) -> bool:
        """Whether the metric is money."""
        return self.metric.endswith("usd")

    @property
    def limit_amount(self) -> int:
        """An absolute limit in the metric's unit: tokens, or micro-USD."""
        return int(self.limit * 1_000_000) if self.is_usd else int(self.limit)

    def describe(self) -> str:
        """``--cost-compare-fail=tokens:10%``."""
        return f"{self.option}={self.text}"


def _split(value: str, metrics: tuple[str, ...], example: str) -> tuple[str, str]:
    metric, sep, limit = value.strip().partition(":")
    if not sep or metric not in metrics or not limit:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not METRIC:LIMIT with METRIC one of {', '.join(metrics)} "
            f"(for example {example})"
        )
    return metric, limit.strip()


def _amount(value: str, text: str) -> Decimal:
    try:
        number = Decimal(text.replace("_", ""))
    except InvalidOperation:
        number = Decimal(-1)
    if not number.is_finite() or number < 0:
        raise argparse.ArgumentTypeError(
            f"{value!r}: the limit {text!r} is not a non-negative number"
        )
    return number


def parse_compare_fail(value: str) -> Gate:
    """argparse `type=` for `--cost-compare-fail`: ``tokens:10%``, ``usd:0.05``, ..."""
    metric, limit = _split(value, COMPARE_METRICS, "tokens:10% or usd:0.05")
    relative = limit.endswith("%")
    number = _amount(value, limit.removesuffix("%").strip())
    if not relative and not metric.endswith("usd") and number != int(number):
        raise argparse.ArgumentTypeError(f"{value!r}: a token limit is a whole number")
    return Gate("--cost-compare-fail", metric, number, relative, f"{metric}:{limit}")


def parse_fail_over(value: str) -> Gate:
    """argparse `type=` for `--cost-fail-over`: ``tokens:N`` or ``usd:X`` (absolute)."""
    metric, limit = _split(value, FAIL_OVER_METRICS, "tokens:200000 or usd:1.50")
    if limit.endswith("%"):
        raise argparse.ArgumentTypeError(
            f"{value!r}: --cost-fail-over takes an amount (tokens:200000, usd:1.50), not a "
            "percentage; use --cost-compare-fail for growth against a baseline"
        )
    number = _amount(value, limit)
    if metric == "tokens" and number != int(number):
        raise argparse.ArgumentTypeError(f"{value!r}: a token limit is a whole number")
    return Gate("--cost-fail-over", metric, number, False, f"{metric}:{limit}")


def parse_keep(value: str) -> int:
    """argparse `type=` for `--cost-history-keep`: a positive whole number of runs."""
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number of runs")
    return number


class HistorySettings(NamedTuple):
    """The history and gate settings of a run, resolved."""

    enabled: bool = True
    keep: int | None = None
    compare: str | None = None
    """REF to compare with (`auto` for the default); None when no section was asked."""
    compare_fail: tuple[Gate, ...] = ()
    fail_over: tuple[Gate, ...] = ()

    @property
    def needs_baseline(self) -> bool:
        """Whether the run compares itself with an earlier one."""
        return self.compare is not None or bool(self.compare_fail)

    @classmethod
    def from_config(cls, config: Any) -> HistorySettings:
        """Resolve from a pytest config; raises `ValueError` naming a bad ini value."""

        def from_ini(name: str, parse: Any) -> list[Any]:
            values = config.getini(name)
            items = values if isinstance(values, list) else str(values).split()
            out = []
            for item in items:
                try:
                    out.append(parse(item))
                except argparse.ArgumentTypeError as exc:
                    raise ValueError(f"ini {name}: {exc}") from None
            return out

        compare_fail = config.getoption("tokencost_compare_fail") or from_ini(
            "tokencost_compare_fail", parse_compare_fail
        )
        fail_over = config.getoption("tokencost_fail_over") or from_ini(
            "tokencost_fail_over", parse_fail_over
        )
        keep = config.getoption("tokencost_history_keep")
        if keep is None and str(config.getini("tokencost_history_keep")).strip():
            keep = from_ini("tokencost_history_keep", parse_keep)[0]
        enabled = not config.getoption("tokencost_no_history") and ini_flag(
            config, "tokencost_history"
        )
        return cls(
            enabled=enabled,
            keep=keep,
            compare=config.getoption("tokencost_compare"),
            compare_fail=tuple(compare_fail),
            fail_over=tuple(fail_over),
        )
