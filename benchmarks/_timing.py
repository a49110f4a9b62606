"""Small timing helpers shared by the benchmark scripts.

These machines are noisy (the same pytest run varies by +-30% in wall time), so commands are run
interleaved and summarised by their best run (least disturbed) and their median, in wall time and
in CPU time of the child process (user + sys, which other load disturbs far less).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def per_call_seconds(func: Callable[[], object], number: int, repeat: int = 7) -> float:
    """Best per-call time over `repeat` runs of `number` calls (the least disturbed run)."""
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number


@dataclass(frozen=True)
class CommandTimes:
    """Wall and CPU seconds of every run of one command."""

    wall: list[float]
    cpu: list[float]

    def summary(self) -> dict[str, float]:
        return {
            "wall_best": min(self.wall),
            "wall_median": statistics.median(self.wall),
            "cpu_best": min(self.cpu),
            "cpu_median": statistics.median(self.cpu),
        }


def command_times(
    commands: dict[str, Sequence[str]], runs: int, env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> dict[str, dict[str, float]]:
    """Time each command `runs` times, interleaved so drift hits all of them alike."""
    times = {name: CommandTimes([], []) for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            before = os.times()
            started = time.perf_counter()
            subprocess.run(argv, check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - started
            after = os.times()
            cpu = (after.children_user - before.children_user) + (
                after.children_system - before.children_system)
            times[name].wall.append(wall)
            times[name].cpu.append(cpu)
    return {name: value.summary() for name, value in times.items()}


def ratio_lines(base: dict[str, float], other: dict[str, float], unit: float, label: str) -> str:
    """One line per statistic: baseline, other, and other relative to the baseline."""
    lines = []
    for key in ("wall_best", "wall_median", "cpu_best", "cpu_median"):
        lines.append(
            f"  {key:<12} baseline {base[key] * unit:9.1f}  {label} {other[key] * unit:9.1f}  "
            f"-> {100 * (other[key] / base[key] - 1):+6.1f}%"
        )
    return "\n".join(lines)
