"""(c) pytest wall time of a generated 2,000-test suite, plugins active vs disabled
(`-p no:tokencost -p no:tokencost-calibrate`).

Measured with PYTHONDONTWRITEBYTECODE=1, as on this project's machines, where pytest rewrites a
plugin's modules on every run. The tests record nothing, so this is the plugin's fixed cost.

    python benchmarks/bench_pytest_overhead.py [--tests 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from _timing import command_times, ratio_lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "pytest.ini").write_text("[pytest]\n")
        per_file = 100
        for index in range(args.tests // per_file):
            body = "\n".join(
                f"def test_{n}():\n    assert {n} + 1 == {n + 1}\n" for n in range(per_file)
            )
            (root / f"test_gen_{index:03d}.py").write_text(body)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        times = command_times(
            {"off": [*base, "-p", "no:tokencost", "-p", "no:tokencost-calibrate"], "on": base},
            args.runs,
            env=env,
            cwd=folder,
        )
    print(
        f"{args.tests} tests, {args.runs} interleaved runs each, in ms; baseline is "
        "both plugins disabled (target: plugins active < 5% slower)"
    )
    print(ratio_lines(times["off"], times["on"], 1000, "active"))


if __name__ == "__main__":
    main()
