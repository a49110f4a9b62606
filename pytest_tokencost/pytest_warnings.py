"""Warnings pytest-tokencost issues, in one hierarchy under `pytest.PytestWarning`.

Filter them like any pytest warning, for example
``-W error::pytest_tokencost.pytest_warnings.TokenBudgetWarning``.
"""

from __future__ import annotations

import pytest

__all__ = ["TokenBudgetWarning", "TokenCostWarning"]


class TokenCostWarning(pytest.PytestWarning):
    """Base class of pytest-tokencost's warnings."""


class TokenBudgetWarning(TokenCostWarning):
    """A budget crossed its warn line (80% by default); nothing was stopped."""
