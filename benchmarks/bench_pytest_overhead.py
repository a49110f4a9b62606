"""(c) pytest time of a generated 2,000-test suite run WITH `--cost-report`, against the same
suite with both plugins disabled (`-p no:tokencost -p no:tokencost-calibrate`), in two cases:

* **nothing recorded**: trivial tests; the plugin's fixed cost, its Token & Cost section
  ("No tokens recorded.") and its empty `token-report.json` included;
* **one record per test**: each test asks for `token_tracker` and makes one `record()` with a
  known usage of a priced model (gpt-4o). The baseline runs the same tests with the plugins
  disabled and a conftest whose `token_tracker` fixture hands out an object whose `record()`
  does nothing: the same fixtures, the same test bodies. The same pair at half the size
  splits the recording run's extra CPU into the plugin's work per recording test and its
  fixed cost per run (imports of the record models and pydantic, the report at the end).

Python's bytecode is cached (in a temporary `PYTHONPYCACHEPREFIX`, written by untimed runs), as
it is for an installed package (pip byte-compiles a wheel at install) and for a suite's test
files (pytest keeps their rewritten bytecode), even where PYTHONDONTWRITEBYTECODE is set, as on
this project's machines. `--no-bytecode` measures the other case too: every module the runs
import that has no bytecode beside it (this package's, installed editable; the test files) is
compiled from source on every run, the plugin's one-time cost grows by its modules' compile.
Two untimed runs of each case come first, so that the timed ones find the output folder,
its history and `price-cache.json` as a project's suite does after its first runs (a first run
also imports genai-prices). Runs interleaved (see `_timing`).

    python benchmarks/bench_pytest_overhead.py [--tests 2000] [--runs 8] [--no-bytecode]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import command_times, ratio_lines

# The recording suite, with the plugins active: the plugin's `token_tracker` and a usage.
_CONFTEST_ON = """
import pytest
from pytest_tokencost import Usage


@pytest.fixture(scope="session")
def usage():
    return Usage(input=1_200, output=80)
"""

# The same suite with the plugins disabled: the same two fixtures, doing nothing.
_CONFTEST_OFF = """
import pytest


class _NoTracker:
    \"\"\"Stands in for token_tracker when the plugins are disabled: records nothing.\"\"\"

    def record(self, **kwargs):
        return None


@pytest.fixture
def token_tracker():
    return _NoTracker()


@pytest.fixture(scope="session")
def usage():
    return None
"""


def _suite(root: Path, tests: int, conftest: str | None) -> None:
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    if conftest is not None:
        (root / "conftest.py").write_text(conftest)
    per_file = 100
    for index in range(tests // per_file):
        if conftest is not None:
            body = "\n".join(
                f"def test_{n}(token_tracker, usage):\n"
                f"    token_tracker.record(model='gpt-4o', usage=usage)\n"
                f"    assert {n} + 1 == {n + 1}\n"
                for n in range(per_file)
            )
        else:
            body = "\n".join(
                f"def test_{n}():\n    assert {n} + 1 == {n + 1}\n" for n in range(per_file)
            )
        (root / f"test_gen_{index:03d}.py").write_text(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="compile modules without cached bytecode from source on every run",
    )
    args = parser.parse_args()
    env = dict(os.environ)
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    off = [*base, "-p", "no:tokencost", "-p", "no:tokencost-calibrate"]
    on = [*base, "--cost-report=term"]
    with tempfile.TemporaryDirectory() as folder:
        if args.no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "pycache")
        empty = Path(folder) / "empty"
        recording_off, recording_on = Path(folder) / "recording-off", Path(folder) / "recording"
        _suite(empty, args.tests, None)
        _suite(recording_off, args.tests, _CONFTEST_OFF)
        _suite(recording_on, args.tests, _CONFTEST_ON)
        half = args.tests // 2
        half_off, half_on = Path(folder) / "half-off", Path(folder) / "half"
        _suite(half_off, half, _CONFTEST_OFF)
        _suite(half_on, half, _CONFTEST_ON)
        commands = {
            "off": [*off, str(empty)],
            "on": [*on, str(empty)],
            "off recording": [*off, str(recording_off)],
            "on recording": [*on, str(recording_on)],
            "off half": [*off, str(half_off)],
            "on half": [*on, str(half_on)],
        }
        # Not timed: every run's first two, as a project's suite has run before (the output
        # folder and its history made, genai-prices' answers in price-cache.json, which a run
        # writes only into a folder that already exists; the bytecode cached).
        for _ in range(2):
            for name in commands:
                subprocess.run(commands[name], env=env, cwd=folder, capture_output=True)
        times = command_times(commands, args.runs, env=env, cwd=folder)
    bytecode = "compiled from source every run" if args.no_bytecode else "bytecode cached"
    print(
        f"{args.tests} tests, {args.runs} interleaved runs each, in ms; baseline is both plugins "
        f"disabled; the plugin runs use --cost-report; {bytecode}"
    )
    print("nothing recorded (target: <= 1.05x):")
    print(ratio_lines(times["off"], times["on"], 1000, "--cost-report"))
    print("one record() per test (target: <= 1.10x):")
    print(ratio_lines(times["off recording"], times["on recording"], 1000, "--cost-report"))
    for label, key in (("nothing recorded", "on"), ("one record per test", "on recording")):
        baseline = times["off recording" if key == "on recording" else "off"]
        extra = (times[key]["cpu_median"] - baseline["cpu_median"]) / args.tests
        print(
            f"  {label}: {times[key]['cpu_median'] / baseline['cpu_median']:.3f}x CPU median, "
            f"{extra * 1e6:+.0f} µs of CPU per test"
        )
    # The recording run's extra CPU at two suite sizes splits into a part that grows with the
    # tests (the plugin's work per recording test) and a part that does not (imports, the
    # report at the end).
    full = times["on recording"]["cpu_median"] - times["off recording"]["cpu_median"]
    halved = times["on half"]["cpu_median"] - times["off half"]["cpu_median"]
    per_test = (full - halved) / (args.tests - half)
    print(
        f"  one record per test, {half} vs {args.tests} tests: {per_test * 1e6:+.0f} µs of CPU "
        f"per recording test, {(full - per_test * args.tests) * 1000:+.0f} ms per run"
    )


if __name__ == "__main__":
    main()
