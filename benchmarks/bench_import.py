"""(d) Start-up import cost of the plugins pytest loads at every start (entry points
`pytest_tokencost.plugin` and `calibrate.plugin`) against `import pytest`.

python benchmarks/bench_import.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import sys

from _timing import command_times, ratio_lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    times = command_times(
        {
            "pytest": [sys.executable, "-c", "import pytest"],
            "plugin": [sys.executable, "-c", "import pytest_tokencost.plugin, calibrate.plugin"],
        },
        args.runs,
        env=env,
    )
    base, plugin = times["pytest"], times["plugin"]
    print(
        f"{args.runs} interleaved runs each, in ms; baseline is `import pytest` "
        "(target: under 30 ms added)"
    )
    print(ratio_lines(base, plugin, 1000, "plugin"))
    for key in ("wall_best", "wall_median"):
        print(f"  added ({key}): {(plugin[key] - base[key]) * 1000:+.1f} ms")
    if "instr_median" in base and "instr_median" in plugin:
        # Instructions barely move with machine load: convert their share into milliseconds.
        share = plugin["instr_median"] / base["instr_median"] - 1
        added_ms = share * base["cpu_median"] * 1000
        print(f"  added (instructions x baseline cpu_median): {added_ms:+.1f} ms")


if __name__ == "__main__":
    main()
