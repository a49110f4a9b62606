"""The combination matrix of issue 8: budgets x xdist x recording mode x reruns."""

from __future__ import annotations

import pytest


def test_a_run_level_error_starts_its_own_line(plugin_pytester: pytest.Pytester) -> None:
    # pytest ends the progress line ("[100%]") only after the test loop; an ERROR: line
    # printed at the end of the loop used to be glued to it ("R..FsERROR: ...").
    plugin_pytester.makepyfile("""
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.parametrize("n", range(3))
        def test_spend(token_tracker, n):
            token_tracker.record(model="gpt-4o", usage=Usage(input=150, output=10))
    """)
    result = plugin_pytester.runpytest("-q", "-p", "no:cacheprovider", "--cost-budget-tokens=300")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            ".Fs * [[]100%]",
            "ERROR: session token budget exhausted: tokens: 320 of 300 (106.67%); "
            "tests not yet started were not run",
        ]
    )
