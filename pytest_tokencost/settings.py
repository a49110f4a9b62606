"""Run settings resolved once from the command line, ini file and defaults (in that order).

This module is imported when pytest starts, so it stays light: validation here is plain
string work, and the price file (which needs pydantic) is only read when one is named.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

__all__ = [
    "DEFAULT_DIR",
    "DEFAULT_RATE_TEXT",
    "ReportTarget",
    "Settings",
    "parse_rate",
    "parse_report_target",
]

DEFAULT_DIR = ".tokencost"
DEFAULT_RATE_TEXT = "3,15"
REPORT_KINDS = ("term", "json")
_NUMBER = r"\s*\d+(?:\.\d+)?\s*"
_RATE = rf"^{_NUMBER},{_NUMBER}$"


# NamedTuples, not dataclasses: this module loads at every pytest start, and a frozen
# dataclass costs several times more to define.
class ReportTarget(NamedTuple):
    """One `--cost-report` value: a kind (`term`, `json`) and, for `json`, an optional path."""

    kind: str
    path: Path | None = None


def parse_report_target(value: str) -> ReportTarget:
    """argparse `type=` for `--cost-report`: ``term``, ``json`` or ``json:PATH``."""
    kind, _, path = value.partition(":")
    if kind not in REPORT_KINDS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a report target; use term, json or json:PATH"
        )
    if path and kind != "json":
        raise argparse.ArgumentTypeError(f"{kind} takes no path (got {value!r})")
    return ReportTarget(kind, Path(path) if path else None)


def parse_fraction(value: str) -> float:
    """argparse `type=` for `--cost-warn-at`: a number in (0, 1]."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a fraction in (0, 1], e.g. 0.8")
    return number


def parse_positive(value: str) -> float:
    """argparse `type=` for budgets: a positive number (underscores allowed: 1_000_000)."""
    try:
        number = float(value.replace("_", ""))
    except ValueError:
        number = -1.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number")
    return number


def parse_rate(value: str) -> str:
    """argparse `type=` for `--cost-default-rate`: ``INPUT,OUTPUT`` USD per million tokens."""
    import re

    if not re.match(_RATE, value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a rate; give INPUT,OUTPUT in USD per million tokens, e.g. 3,15"
        )
    return value


if TYPE_CHECKING:
    from typing import Protocol

    class _Config(Protocol):
        @property
        def rootpath(self) -> Path: ...
        @property
        def invocation_params(self) -> Any: ...

        def getoption(self, name: str) -> Any: ...
        def getini(self, name: str) -> Any: ...


def _ini_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


class Settings(NamedTuple):
    """Everything the plugin was told, resolved: command line > ini > default."""

    output_dir: Path
    reports: tuple[ReportTarget, ...] = ()
    prices_file: Path | None = None
    strict: bool = False
    default_rate: str = DEFAULT_RATE_TEXT
    default_rate_for_unknown: bool = False
    report_on_records: bool = False
    budget_usd: float | None = None
    budget_tokens: int | None = None
    warn_at: float = 0.8

    @property
    def term(self) -> bool:
        """Print the Token & Cost section even when nothing was recorded."""
        return any(target.kind == "term" for target in self.reports)

    @property
    def json_paths(self) -> tuple[Path, ...]:
        """Extra copies of the JSON report asked for with ``json:PATH``."""
        return tuple(t.path for t in self.reports if t.kind == "json" and t.path is not None)

    @classmethod
    def from_config(cls, config: _Config) -> Settings:
        """Resolve the settings of a pytest run; raises `ValueError` on a bad ini value."""
        root = config.rootpath
        invocation = Path(config.invocation_params.dir)
        cli_dir = config.getoption("tokencost_dir")
        ini_dir = config.getini("tokencost_dir")
        output_dir = (
            invocation / cli_dir if cli_dir else root / (ini_dir or DEFAULT_DIR)
        ).resolve()
        cli_prices = config.getoption("tokencost_prices")
        ini_prices = config.getini("tokencost_prices")
        prices = (
            invocation / cli_prices if cli_prices else (root / ini_prices if ini_prices else None)
        )
        rate = (
            config.getoption("tokencost_default_rate")
            or config.getini("tokencost_default_rate")
            or DEFAULT_RATE_TEXT
        )
        try:
            parse_rate(rate)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"ini tokencost_default_rate: {exc}") from None
        targets = []
        for target in config.getoption("tokencost_report") or ():
            if target.path is not None and not target.path.is_absolute():
                target = ReportTarget(target.kind, invocation / target.path)
            targets.append(target)
        budgets: dict[str, float | None] = {}
        for name, ini in (
            ("budget_usd", "tokencost_budget_usd"),
            ("budget_tokens", "tokencost_budget_tokens"),
            ("warn_at", "tokencost_warn_at"),
        ):
            value = config.getoption(f"tokencost_{name}")
            if value is None and config.getini(ini):
                parse = parse_fraction if name == "warn_at" else parse_positive
                try:
                    value = parse(str(config.getini(ini)))
                except argparse.ArgumentTypeError as exc:
                    raise ValueError(f"ini {ini}: {exc}") from None
            budgets[name] = value
        tokens = budgets["budget_tokens"]
        if tokens is not None and not float(tokens).is_integer():
            raise ValueError(f"--cost-budget-tokens must be a whole number, got {tokens}")
        return cls(
            budget_usd=budgets["budget_usd"],
            budget_tokens=int(tokens) if tokens is not None else None,
            warn_at=budgets["warn_at"] or 0.8,
            output_dir=output_dir,
            reports=tuple(targets),
            prices_file=prices,
            strict=config.getoption("tokencost_strict")
            or _ini_bool(config.getini("tokencost_strict")),
            default_rate=rate,
            default_rate_for_unknown=config.getoption("tokencost_default_rate_unknown")
            or _ini_bool(config.getini("tokencost_default_rate_unknown_models")),
            report_on_records=_ini_bool(config.getini("tokencost_report")),
        )
