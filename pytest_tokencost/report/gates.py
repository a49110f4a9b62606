"""Cost gates: the verdicts of `--cost-compare-fail` and `--cost-fail-over` (pytest-free).

A gate passes or fails; it cannot be checked without a baseline (`no-baseline`) or when a
cost it needs is not recorded (some records have no price: `not-recorded`). Those two warn
and never fail the run: `--cost-strict` is the option that fails on unpriced records.
Growth against a base of 0 exceeds any percentage.
"""

from __future__ import annotations

from decimal import Decimal

from .compare import Comparison
from .document import GateVerdict
from .gate_options import Gate
from .history import Amounts
from .render import format_usd

__all__ = ["SHOWN_OFFENDERS", "evaluate_compare_fail", "evaluate_fail_over", "failed"]

#: How many offending tests a test gate's message shows with their figures.
SHOWN_OFFENDERS = 5


def _value(amounts: Amounts, metric: str) -> int | None:
    if metric.endswith("usd"):
        return amounts.cost_micro_usd
    if metric in ("input", "output"):
        return amounts.input if metric == "input" else amounts.output
    return amounts.total


def _show(gate: Gate, value: int | None) -> str:
    if value is None:
        return "not recorded"
    return format_usd(value) if gate.is_usd else f"{value:,} tokens"


def _limit_text(gate: Gate) -> str:
    if gate.relative:
        return f"{gate.limit.normalize():f}%"
    return f"${gate.limit.normalize():f}" if gate.is_usd else f"{gate.limit_amount:,} tokens"


def _grew_past(gate: Gate, base: int, head: int) -> bool:
    growth = head - base
    if gate.relative:
        if base == 0:
            return growth > 0
        return Decimal(growth) * 100 > gate.limit * base
    return growth > gate.limit_amount


def _growth(base: int, head: int) -> str:
    if base == 0:
        return "from 0" if head else "no change"
    return f"{Decimal((head - base) * 100) / base:+.1f}%"


def evaluate_compare_fail(gate: Gate, comparison: Comparison | None, why: str) -> GateVerdict:
    """The verdict of one `--cost-compare-fail` gate (`why`: why there is no comparison)."""
    limit = _limit_text(gate)
    if comparison is None:
        return GateVerdict(
            gate=gate.describe(),
            metric=gate.metric,
            status="no-baseline",
            base=None,
            head=None,
            limit=limit,
            message=f"{gate.describe()} not checked: {why}",
        )
    if gate.metric.startswith("test-"):
        return _per_test(gate, comparison, limit)
    base = _value(comparison.base.totals, gate.metric)
    head = _value(comparison.head.totals, gate.metric)
    where = f"base {comparison.base.run_id}"
    if base is None or head is None:
        return GateVerdict(
            gate=gate.describe(),
            metric=gate.metric,
            status="not-recorded",
            base=base,
            head=head,
            limit=limit,
            message=f"{gate.describe()} not checked: the cost is not recorded "
            f"({where}: {_show(gate, base)}, this run: {_show(gate, head)}); some records "
            "have no price",
        )
    failed_ = _grew_past(gate, base, head)
    verb = "grew past" if failed_ else "within"
    return GateVerdict(
        gate=gate.describe(),
        metric=gate.metric,
        status="fail" if failed_ else "pass",
        base=base,
        head=head,
        limit=limit,
        message=f"{gate.describe()}: {gate.metric} {verb} the limit of {limit}: "
        f"{_show(gate, base)} ({where}) -> {_show(gate, head)} ({_growth(base, head)})",
    )


def _test_growth(
    gate: Gate, comparison: Comparison
) -> tuple[list[tuple[str, int, int]], list[str], int]:
    """Tests in both runs that grew past the limit (name, base, head; the most grown first),
    those whose value is not recorded, and how many were compared."""
    metric = gate.metric.removeprefix("test-")
    offenders: list[tuple[str, int, int]] = []
    unknown: list[str] = []
    compared = 0
    for delta in comparison.tests:
        if delta.base is None or delta.head is None:  # new or removed: nothing to grow from
            continue
        compared += 1
        base, head = _value(delta.base, metric), _value(delta.head, metric)
        if base is None or head is None:
            unknown.append(delta.key)
        elif _grew_past(gate, base, head):
            offenders.append((delta.key, base, head))
    offenders.sort(key=lambda o: (-(o[2] - o[1]), o[0]))
    return offenders, unknown, compared


def _offenders_verdict(
    gate: Gate, comparison: Comparison, limit: str, offenders: list[tuple[str, int, int]]
) -> GateVerdict:
    shown = "; ".join(
        f"{name}: {_show(gate, b)} -> {_show(gate, h)} ({_growth(b, h)})"
        for name, b, h in offenders[:SHOWN_OFFENDERS]
    )
    hidden = len(offenders) - SHOWN_OFFENDERS
    more = f" and {hidden} more" if hidden > 0 else ""
    _, base, head = offenders[0]
    return GateVerdict(
        gate=gate.describe(),
        metric=gate.metric,
        status="fail",
        base=base,
        head=head,
        limit=limit,
        message=f"{gate.describe()}: {len(offenders)} test(s) grew past the limit of {limit} "
        f"against base {comparison.base.run_id}: {shown}{more}",
        offending_tests=[name for name, _, _ in offenders],
    )


def _per_test(gate: Gate, comparison: Comparison, limit: str) -> GateVerdict:
    offenders, unknown, compared = _test_growth(gate, comparison)
    if offenders:
        return _offenders_verdict(gate, comparison, limit, offenders)
    note = f"; {len(unknown)} test(s) not checked: cost not recorded" if unknown else ""
    return GateVerdict(
        gate=gate.describe(),
        metric=gate.metric,
        status="not-recorded" if unknown and compared == len(unknown) else "pass",
        base=None,
        head=None,
        limit=limit,
        message=f"{gate.describe()}: no test grew past the limit of {limit} "
        f"({compared} test(s) in both runs, base {comparison.base.run_id}){note}",
    )


def evaluate_fail_over(gate: Gate, head: Amounts) -> GateVerdict:
    """The verdict of one `--cost-fail-over` gate on this run's totals."""
    limit = _limit_text(gate)
    value = _value(head, gate.metric)
    at_least = ""
    if value is None:
        priced = head.priced_micro_usd or 0
        if priced > gate.limit_amount:  # over even without the unpriced records
            value = priced
            # the total is not known: say what is (the priced part), never call it the total
            at_least = (
                f"at least {_show(gate, value)} ({head.unpriced_records} record(s) have no price)"
            )
        else:
            return GateVerdict(
                gate=gate.describe(),
                metric=gate.metric,
                status="not-recorded",
                base=None,
                head=None,
                limit=limit,
                message=f"{gate.describe()} not checked: {head.unpriced_records} record(s) have "
                f"no price (the priced ones cost {format_usd(priced)})",
            )
    over = value > gate.limit_amount
    return GateVerdict(
        gate=gate.describe(),
        metric=gate.metric,
        status="fail" if over else "pass",
        base=None,
        head=value,
        limit=limit,
        message=f"{gate.describe()}: the run's {'cost' if gate.is_usd else 'total'} is "
        f"{at_least or _show(gate, value)}, {'over' if over else 'within'} the limit of {limit}",
    )


def failed(verdicts: list[GateVerdict]) -> list[GateVerdict]:
    """The verdicts that fail the run."""
    return [v for v in verdicts if v.status == "fail"]
