"""(i) How soon the file dispatcher notices an agent's done marker, and what waiting costs.

python benchmarks/bench_dispatch.py [ROUNDS]

A separate process plays the agent: for each round it waits for the request, sleeps a random
0.02-0.6 s (the same sequence for every subject), writes the artifact holding the
`time.monotonic()` at which it then creates the done marker (CLOCK_MONOTONIC is shared by the
processes of one machine). Latency is the time from that stamp to the waiter returning. The
subjects run interleaved, round by round:

* baseline: a bare `os.path.exists` loop without sleeping (the fastest possible notice, at
  the price of a whole CPU);
* the old fixed 200 ms poll;
* `FileDispatcher.dispatch` (adaptive polling: 2 ms, growing x1.5 up to 20 ms), which also
  writes the prompt and the manifest and reads the artifact.

Target: every notice within 50 ms.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from calibrate.dispatch import DispatchRequest, FileDispatcher

AGENT = r"""
import os, sys, time
from pathlib import Path
folder = Path(sys.argv[1])
for line in sys.stdin:
    case, delay = line.split()
    request = folder / case / "s.request.json"
    while not request.exists():
        time.sleep(0.0005)
    time.sleep(float(delay))
    stamp = time.monotonic()
    (folder / case / "s.artifact.md").write_text(repr(stamp))
    open(folder / case / "s.done", "x").close()
"""


def _busy(done: Path) -> None:
    exists, target = os.path.exists, os.fspath(done)
    while not exists(target):
        pass


def _fixed_200ms(done: Path) -> None:
    while not done.exists():
        time.sleep(0.2)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    rng = random.Random(9)
    delays = [rng.uniform(0.02, 0.6) for _ in range(rounds)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        agent = subprocess.Popen(
            [sys.executable, "-c", AGENT, str(folder)], stdin=subprocess.PIPE, text=True
        )
        assert agent.stdin is not None
        dispatcher = FileDispatcher(folder, timeout_s=30)

        def manual(wait: Callable[[Path], None]) -> Callable[[str], tuple[float, float]]:
            def run(case: str) -> tuple[float, float]:
                (folder / case).mkdir()
                (folder / case / "s.request.json").write_text("{}")
                cpu = time.process_time()
                wait(folder / case / "s.done")
                noticed = time.monotonic()
                stamp = float((folder / case / "s.artifact.md").read_text())
                return noticed - stamp, time.process_time() - cpu

            return run

        def file_dispatcher(case: str) -> tuple[float, float]:
            cpu = time.process_time()
            result = dispatcher.dispatch(DispatchRequest("bench", case, "s", "prompt"))
            noticed = time.monotonic()
            return noticed - float(result.artifact), time.process_time() - cpu

        subjects = {
            "bare os.path.exists loop (baseline)": manual(_busy),
            "fixed 200 ms poll (before)": manual(_fixed_200ms),
            "FileDispatcher, adaptive 2-20 ms": file_dispatcher,
        }
        latency: dict[str, list[float]] = {name: [] for name in subjects}
        cpu_share: dict[str, list[float]] = {name: [] for name in subjects}
        for index, delay in enumerate(delays):
            for number, (name, run) in enumerate(subjects.items()):
                case = f"r{index}-{number}"
                agent.stdin.write(f"{case} {delay}\n")
                agent.stdin.flush()
                seconds, cpu = run(case)
                latency[name].append(seconds)
                cpu_share[name].append(cpu / (delay + seconds))
        agent.stdin.close()
        agent.wait()
    base = statistics.median(latency["bare os.path.exists loop (baseline)"])
    print(f"done-marker notice latency, {rounds} rounds, agent delays 0.02-0.6 s:")
    for name in subjects:
        values = sorted(latency[name])
        median, worst = statistics.median(values), values[-1]
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(
            f"  {name:38s} median {median * 1e3:7.2f} ms  p95 {p95 * 1e3:7.2f} ms  "
            f"max {worst * 1e3:7.2f} ms  = {median / base:7.1f}x baseline median; "
            f"CPU while waiting {statistics.median(cpu_share[name]):6.1%}"
        )
    adaptive = max(latency["FileDispatcher, adaptive 2-20 ms"])
    print(f"target: every notice < 50 ms ({'met' if adaptive < 0.05 else 'NOT met'})")


if __name__ == "__main__":
    main()
