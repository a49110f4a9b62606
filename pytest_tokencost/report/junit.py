"""JUnit XML properties (`--junitxml`): each test's tokens and cost, and the run's totals.

Per test, the properties ride on the teardown report's `user_properties` (pytest's public
channel, the one `record_property` fills), so pytest-xdist carries them to the controller and
pytest's junitxml writes them under the testcase. The run's totals go on the testsuite through
`add_global_property`, the method behind pytest's `record_testsuite_property` fixture, on the
junitxml plugin object registered for the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..money import usd_text

if TYPE_CHECKING:
    import pytest

    from ..records import TokenRecord

__all__ = ["PREFIX", "add_suite_properties", "usage_properties"]

PREFIX = "tokencost_"


def usage_properties(records: Iterable[TokenRecord]) -> list[tuple[str, str]]:
    """``tokencost_input``, ``_output``, ``_cache_read``, ``_cache_write``, ``_reasoning`` and
    ``_cost_usd`` (exact, in dollars) of `records`, summed.

    A count no record reported (cache, reasoning: `None`) and a cost that is not recorded
    (some record has no known price) are absent, never 0.
    """
    from ..summary import TokenSummary

    totals = TokenSummary.from_records(records).totals
    usage = totals.usage
    values: list[tuple[str, int | None]] = [
        ("input", usage.input),
        ("output", usage.output),
        ("cache_read", usage.cache_read),
        ("cache_write", usage.cache_write),
        ("reasoning", usage.reasoning),
    ]
    props = [(PREFIX + name, str(value)) for name, value in values if value is not None]
    cost = totals.cost_micro_usd
    if cost is not None and not totals.unpriced_records:
        props.append((PREFIX + "cost_usd", usd_text(cost)))  # spent
    recorded = totals.replayed_cost_micro_usd
    if recorded is not None:  # replayed calls: what they would cost live, not spent
        props.append((PREFIX + "replayed_cost_usd", usd_text(recorded)))
    return props


def add_suite_properties(config: pytest.Config, records: Iterable[TokenRecord]) -> bool:
    """Put the run's totals (and its record count) on the JUnit testsuite; False when
    pytest's junitxml is not active in this process."""
    for plugin in config.pluginmanager.get_plugins():
        add = getattr(plugin, "add_global_property", None)
        if callable(add):
            records = list(records)
            add(PREFIX + "records", str(len(records)))
            for name, value in usage_properties(records):
                add(name, value)
            return True
    return False
