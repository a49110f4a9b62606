"""Run settings resolved once from the command line, ini file and defaults (in that order).

This module is imported when pytest starts, so it stays light: validation here is plain
string work, and the price file (which needs pydantic) is only read when one is named.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .constants import DEFAULT_WARN_AT, OUTPUT_DIR_NAME

__all__ = [
    "DEFAULT_DIR",
    "DEFAULT_RATE_TEXT",
    "GITHUB_SUMMARY_CHOICES",
    "REPORT_KINDS",
    "ReportKind",
    "ReportTarget",
    "Settings",
    "disabled",
    "ini_flag",
    "parse_positive",
    "parse_rate",
    "parse_report_target",
    "parse_seconds",
    "parse_top",
]

#: The output folder under the rootdir (kept here under its old name).
DEFAULT_DIR = OUTPUT_DIR_NAME
DEFAULT_RATE_TEXT = "3,15"
GITHUB_SUMMARY_CHOICES = ("auto", "true", "false")
#: Where ``html`` without a path writes, in the output folder.
HTML_NAME = "token-report.html"
_NUMBER = r"\s*\d+(?:\.\d+)?\s*"
_RATE = rf"^{_NUMBER},{_NUMBER}$"


# NamedTuples, not dataclasses: this module loads at every pytest start, and a frozen
# dataclass costs several times more to define.
class ReportKind(NamedTuple):
    """What a `--cost-report` kind accepts after its colon."""

    path: str = "none"
    """``none`` (no path), ``optional`` (a default file in the output folder) or ``required``."""
    words: tuple[str, ...] = ()
    """Words taken instead of a path (``term:brief``)."""
    default_name: str | None = None
    """The file written in the output folder when an optional path is not given."""


#: The report kinds of `--cost-report`; add one here (and a writer) to add a target.
REPORT_KINDS: dict[str, ReportKind] = {
    "term": ReportKind(words=("brief",)),
    "json": ReportKind(path="required"),
    "markdown": ReportKind(path="optional", default_name="token-report.md"),
    "html": ReportKind(path="optional", default_name=HTML_NAME),
}


class ReportTarget(NamedTuple):
    """One `--cost-report` value: a kind, an optional path, an optional word (``brief``)."""

    kind: str
    path: Path | None = None
    word: str | None = None


def _usage_text() -> str:
    forms = []
    for kind, rule in REPORT_KINDS.items():
        forms.append(kind if rule.path != "required" else f"{kind}:PATH")
        forms += [f"{kind}:{word}" for word in rule.words]
        if rule.path == "optional":
            forms.append(f"{kind}:PATH")
    return ", ".join(forms)


def parse_report_target(value: str) -> ReportTarget:
    """argparse `type=` for `--cost-report`: ``KIND``, ``KIND:WORD`` or ``KIND:PATH``."""
    kind, _, rest = value.partition(":")
    rule = REPORT_KINDS.get(kind)
    if rule is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a report target; use {_usage_text()}")
    if rest in rule.words:
        return ReportTarget(kind, word=rest)
    if not rest:
        if rule.path == "required":
            raise argparse.ArgumentTypeError(
                f"{kind} needs a path: --cost-report={kind}:PATH ({kind} is always written "
                "as token-report.json in the output folder; a path asks for a copy)"
                if kind == "json"
                else f"{kind} needs a path: --cost-report={kind}:PATH"
            )
        return ReportTarget(kind)
    if rule.path == "none":
        words = " or ".join(f"{kind}:{word}" for word in rule.words)
        raise argparse.ArgumentTypeError(
            f"{kind} takes no path (got {value!r})" + (f"; did you mean {words}?" if words else "")
        )
    return ReportTarget(kind, Path(rest))


#: The largest timeout `parse_seconds` takes: longer ones overflow the OS's timers.
MAX_SECONDS = 1_000_000


def parse_fraction(value: str) -> float:
    """argparse `type=` for `--cost-warn-at`: a number in (0, 1]."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= 1:  # also false for nan
        raise argparse.ArgumentTypeError(f"{value!r} is not a fraction in (0, 1], e.g. 0.8")
    return number


def parse_positive(value: str) -> float:
    """argparse `type=` for budgets: a positive finite number (underscores allowed: 1_000_000).

    `Settings.from_config` then checks what each budget can hold (see `budget.MAX_LIMIT`).
    """
    try:
        number = float(value.replace("_", ""))
    except ValueError:
        number = -1.0
    if not (number > 0 and math.isfinite(number)):  # `number > 0` is false for nan
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive finite number")
    return number


def parse_seconds(value: str) -> float:
    """argparse `type=` for timeouts: positive, finite, at most `MAX_SECONDS`."""
    number = parse_positive(value)
    if number > MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{value!r} seconds is too long; give at most {MAX_SECONDS:,} (about 11 days)"
        )
    return number


def parse_count(value: str) -> int:
    """argparse `type=` for counts: a whole number >= 0."""
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0")
    return count


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


def parse_top(value: str) -> int:
    """argparse `type=` for `--cost-top`: a whole number >= 0 (0 leaves the table out)."""
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0, e.g. 10")
    return number


def disabled(config: _Config) -> bool:
    """``--no-cost`` or ini ``tokencost_disable``: accounting off, fixture and marker no-ops."""
    return bool(config.getoption("tokencost_disable")) or ini_flag(config, "tokencost_disable")


def ini_flag(config: _Config, name: str) -> bool:
    """A true/false ini key, as pytest reads ``type="bool"`` keys; ValueError naming the key
    for a value that is neither (pytest's own message names only the value)."""
    try:
        value = config.getini(name)
    except Exception as exc:  # pytest's UsageError (a ValueError before pytest 9)
        raise ValueError(f"ini {name}: {exc}; use true or false") from None
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
    #: --cost-capture or ini tokencost_capture: SDK calls made while a test runs are recorded.
    capture: bool = False
    budget_usd: float | None = None
    budget_tokens: int | None = None
    warn_at: float = DEFAULT_WARN_AT
    top: int = 10
    github_summary: str = "auto"

    @property
    def term(self) -> bool:
        """Print the Token & Cost section even when nothing was recorded."""
        return any(target.kind == "term" for target in self.reports)

    @property
    def term_brief(self) -> bool:
        """``--cost-report=term:brief``: the section's totals only, no tables."""
        return any(t.kind == "term" and t.word == "brief" for t in self.reports)

    def report_paths(self, kind: str) -> tuple[Path, ...]:
        """The files asked for with ``--cost-report=KIND[:PATH]`` (an optional path not given
        is the kind's default file in the output folder), each once."""
        rule = REPORT_KINDS[kind]
        paths: list[Path] = []
        for target in self.reports:
            if target.kind != kind or target.word is not None:
                continue
            path = target.path
            if path is None and rule.default_name is not None:
                path = self.output_dir / rule.default_name
            if path is not None and path not in paths:
                paths.append(path)
        return tuple(paths)

    @property
    def json_paths(self) -> tuple[Path, ...]:
        """Extra copies of the JSON report asked for with ``json:PATH``."""
        return self.report_paths("json")

    @property
    def html_paths(self) -> tuple[Path, ...]:
        """Where ``html[:PATH]`` asked for the HTML page (``token-report.html`` by default)."""
        return self.report_paths("html")

    @classmethod
    def from_config(cls, config: _Config) -> Settings:
        """Resolve the settings of a pytest run; raises `ValueError` on a bad ini value."""
        invocation = Path(config.invocation_params.dir)
        output_dir = _resolved_path(config, "tokencost_dir", invocation, DEFAULT_DIR)
        assert output_dir is not None  # it has a default
        # Checked in this order, so that the first bad value is the one named.
        rate, github = _default_rate(config), _github_summary(config)
        budgets = _budgets(config)
        tokens = budgets["budget_tokens"]
        top = config.getoption("tokencost_top")
        return cls(
            budget_usd=budgets["budget_usd"],
            budget_tokens=int(tokens) if tokens is not None else None,
            warn_at=budgets["warn_at"] or DEFAULT_WARN_AT,
            output_dir=output_dir.resolve(),
            reports=_report_targets(config, invocation),
            prices_file=_resolved_path(config, "tokencost_prices", invocation, None),
            strict=_flag(config, "tokencost_strict", "tokencost_strict"),
            default_rate=rate,
            default_rate_for_unknown=_flag(
                config, "tokencost_default_rate_unknown", "tokencost_default_rate_unknown_models"
            ),
            report_on_records=ini_flag(config, "tokencost_report"),
            capture=_flag(config, "tokencost_capture", "tokencost_capture"),
            top=10 if top is None else top,
            github_summary=github,
        )


def _resolved_path(
    config: _Config, name: str, invocation: Path, default: str | None
) -> Path | None:
    """Option `name` (relative to where pytest was invoked), else its ini key (relative to the
    rootdir), else `default` under the rootdir (None: no path)."""
    given: str | None = config.getoption(name)
    if given:
        return invocation / given
    ini = config.getini(name) or default
    return config.rootpath / ini if ini else None


def _flag(config: _Config, option: str, ini: str) -> bool:
    """A switch that the command line or the ini file turns on."""
    return bool(config.getoption(option)) or ini_flag(config, ini)


def _default_rate(config: _Config) -> str:
    """The default rate's text, checked (command line, ini, then the contract's)."""
    rate = str(
        config.getoption("tokencost_default_rate")
        or config.getini("tokencost_default_rate")
        or DEFAULT_RATE_TEXT
    )
    try:
        parse_rate(rate)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"ini tokencost_default_rate: {exc}") from None
    return rate


def _report_targets(config: _Config, invocation: Path) -> tuple[ReportTarget, ...]:
    """The --cost-report targets, their relative paths taken from where pytest was invoked."""
    targets = []
    for target in config.getoption("tokencost_report") or ():
        if target.path is not None and not target.path.is_absolute():
            target = target._replace(path=invocation / target.path)
        targets.append(target)
    return tuple(targets)


def _github_summary(config: _Config) -> str:
    """Ini `tokencost_github_summary`, checked: auto, true or false."""
    github = str(config.getini("tokencost_github_summary") or "auto").strip().lower()
    if github not in GITHUB_SUMMARY_CHOICES:
        raise ValueError(
            f"ini tokencost_github_summary: {github!r} is not one of "
            f"{', '.join(GITHUB_SUMMARY_CHOICES)}"
        )
    return github


#: The session budget's settings: (name, option, ini key).
_BUDGET_KEYS = (
    ("budget_usd", "--cost-budget-usd", "tokencost_budget_usd"),
    ("budget_tokens", "--cost-budget-tokens", "tokencost_budget_tokens"),
    ("warn_at", "--cost-warn-at", "tokencost_warn_at"),
)


def _budgets(config: _Config) -> dict[str, float | None]:
    """The session budgets and the warn share (command line, else ini), checked."""
    budgets: dict[str, float | None] = {}
    sources: dict[str, str] = {}
    for name, option, ini in _BUDGET_KEYS:
        value = config.getoption(f"tokencost_{name}")
        sources[name] = option
        if value is None and config.getini(ini):
            sources[name] = f"ini {ini}"
            parse = parse_fraction if name == "warn_at" else parse_positive
            try:
                value = parse(str(config.getini(ini)))
            except argparse.ArgumentTypeError as exc:
                raise ValueError(f"ini {ini}: {exc}") from None
        budgets[name] = value
    usd, tokens = budgets["budget_usd"], budgets["budget_tokens"]
    if usd is not None or tokens is not None:
        _check_session_budgets(usd, sources["budget_usd"], tokens, sources["budget_tokens"])
    return budgets


def _check_session_budgets(
    usd: float | None, usd_source: str, tokens: float | None, tokens_source: str
) -> None:
    """What the budget pool can hold: whole tokens, at least one micro-USD, at most MAX_LIMIT."""
    from .budget import MAX_LIMIT  # only when a budget is set: this module loads at start-up
    from .money import MICRO_USD_PER_USD, usd_to_micro

    if usd is not None:
        micro_usd = usd_to_micro(usd)
        if micro_usd < 1:
            raise ValueError(
                f"{usd_source}: {usd:g} rounds to $0 (budgets count whole micro-USD, "
                "$0.000001); give a larger budget"
            )
        if micro_usd > MAX_LIMIT:
            raise ValueError(
                f"{usd_source}: {usd:g} is too large; give at most "
                f"{MAX_LIMIT // MICRO_USD_PER_USD:,} dollars"
            )
    if tokens is not None:
        if not tokens.is_integer():
            raise ValueError(f"{tokens_source}: must be a whole number of tokens, got {tokens:g}")
        if tokens > MAX_LIMIT:
            raise ValueError(
                f"{tokens_source}: {tokens:g} is too large; give at most {MAX_LIMIT:,} tokens"
            )
