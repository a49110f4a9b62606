"""(m) From the first signal to the report: how long after Ctrl-C (SIGINT to the process group,
as a terminal or a CI runner's cancel sends it) a run's `token-report.json` exists, serial
and under pytest-xdist, and whether a GitHub Actions cancel keeps it.

    python benchmarks/bench_interrupt.py [--rounds 5] [--workers 2] [--cancel]

The suite: 12 tests, each records a call, sleeps 2 s, records another (as a test that waits
for a provider does). Each round runs it serially and with `-n WORKERS`, interleaved (so a
noisy spell hits both alike), in its own process group with SIGINT at its default (a pytest
started in the background from a shell would ignore it). Once two tests' records are in the
run's records.jsonl, SIGINT goes to the group; the script then polls (every 10 ms) for the
run's `runs/<id>/token-report.json` and for the process's exit. Printed: every round, then the
median per mode and the xdist/serial ratio of the medians (the serial run is the baseline
measured in the same run).

With `--cancel`, each round also sends what GitHub Actions sends on cancel: SIGINT to the
group, SIGTERM 7.5 s later, SIGKILL 2.5 s after that, and says whether the report was written.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = """
import time
from pytest_tokencost import Usage

import pytest

@pytest.mark.parametrize("n", range(12))
def test_call(token_tracker, n):
    token_tracker.record(model="o3-mini", provider="openai", usage=Usage(input=700, output=90))
    time.sleep(2)
    token_tracker.record(model="o3-mini", provider="openai", usage=Usage(input=800, output=60))
"""

PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q"]
CANCEL_TERM_S = 7.5
CANCEL_KILL_S = 2.5


def _records(out: Path) -> int:
    return sum(
        len(path.read_bytes().splitlines()) for path in (out / "runs").glob("*/records.jsonl")
    )


def _report(out: Path) -> bool:
    return any((out / "runs").glob("*/token-report.json"))


def _start(folder: Path, workers: str) -> subprocess.Popen[bytes]:
    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(
        [*PYTEST, "-n", workers, "--cost-report=term:brief"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=default_sigint,
    )


def one_run(root: Path, workers: str, cancel: bool) -> tuple[float | None, float]:
    """Seconds from SIGINT to the report (None: never written) and to the process's exit."""
    folder = Path(tempfile.mkdtemp(dir=root))
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_slow.py").write_text(SUITE)
    out = folder / ".tokencost"
    process = _start(folder, workers)
    while _records(out) < 4:  # two tests finished (two records each)
        if process.poll() is not None:
            raise RuntimeError(f"the run ended before the signal (-n {workers})")
        time.sleep(0.01)
    signalled = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    reported: float | None = None
    steps = [(CANCEL_TERM_S, signal.SIGTERM), (CANCEL_TERM_S + CANCEL_KILL_S, signal.SIGKILL)]
    while process.poll() is None:
        now = time.monotonic() - signalled
        if reported is None and _report(out):
            reported = now
        if cancel and steps and now >= steps[0][0]:
            try:
                os.killpg(process.pid, steps.pop(0)[1])
            except ProcessLookupError:
                break
        time.sleep(0.01)
    exited = time.monotonic() - signalled
    if reported is None and _report(out):
        reported = exited
    if cancel:  # workers left behind by the SIGKILL of an earlier step
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return reported, exited


def _median(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    missing = len(values) - len(known)
    text = f"{statistics.median(known):.2f} s" if known else "never"
    return text + (f" ({missing} of {len(values)} never written)" if missing and known else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", default="2")
    parser.add_argument("--cancel", action="store_true", help="SIGINT, +7.5 s SIGTERM, +2.5 s KILL")
    args = parser.parse_args()
    modes = ["0", args.workers]
    results: dict[str, list[tuple[float | None, float]]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(args.rounds):
            for mode in modes if number % 2 == 0 else reversed(modes):
                reported, exited = one_run(Path(tmp), mode, args.cancel)
                results[mode].append((reported, exited))
                shown = "never" if reported is None else f"{reported:.2f} s"
                print(
                    f"round {number + 1} -n {mode}: report after {shown}, exit after {exited:.2f} s"
                )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for mode in modes:
        rows = results[mode]
        print(
            f"-n {mode}: SIGINT -> token-report.json median {_median([r for r, _ in rows])}, "
            f"-> exit median {_median([e for _, e in rows])}"
        )
    serial = [r for r, _ in results["0"] if r is not None]
    xdist = [r for r, _ in results[args.workers] if r is not None]
    if serial and xdist:
        ratio = statistics.median(xdist) / statistics.median(serial)
        print(f"ratio -n {args.workers} / serial (SIGINT -> report, medians): {ratio:.1f}x")


if __name__ == "__main__":
    main()
