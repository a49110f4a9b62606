"""Small timing helpers shared by the benchmark scripts.

These machines are noisy (the same pytest run varies by +-30% in wall time), so commands are run
interleaved and summarised by their best run (least disturbed) and their median, in wall time, in
CPU time of the child process, and, where `perf` can count them, in instructions retired (which
other load on the machine hardly changes).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def per_call_seconds(func: Callable[[], object], number: int, repeat: int = 7) -> float:
    """Best per-call time over `repeat` runs of `number` calls (the least disturbed run)."""
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number


def interleaved_per_call(
    funcs: dict[str, Callable[[], object]], number: int, rounds: int = 15
) -> dict[str, float]:
    """Best per-call time of each function, their batches alternating round by round, so that
    a noisy spell of the machine hits every function alike."""
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(rounds):
        for name, func in funcs.items():
            best[name] = min(best[name], timeit.timeit(func, number=number) / number)
    return best


@dataclass(frozen=True)
class CommandTimes:
    """Wall and CPU seconds of every run of one command."""

    wall: list[float]
    cpu: list[float]
    instructions: list[float]

    def summary(self) -> dict[str, float]:
        result = {
            "wall_best": min(self.wall),
            "wall_median": statistics.median(self.wall),
            "cpu_best": min(self.cpu),
            "cpu_median": statistics.median(self.cpu),
        }
        if self.instructions:
            result["instr_median"] = statistics.median(self.instructions)
        return result


def _perf_works() -> bool:
    if shutil.which("perf") is None:
        return False
    probe = subprocess.run(
        ["perf", "stat", "-x,", "-e", "instructions", "true"], capture_output=True, text=True
    )
    return probe.returncode == 0 and "not supported" not in probe.stderr


def _instructions(path: str) -> float | None:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("instructions"):
                return float(fields[0]) if fields[0].isdigit() else None
    return None


def command_times(
    commands: dict[str, Sequence[str]],
    runs: int,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> dict[str, dict[str, float]]:
    """Time each command `runs` times, interleaved so drift hits all of them alike."""
    times = {name: CommandTimes([], [], []) for name in commands}
    perf = _perf_works()
    with tempfile.TemporaryDirectory() as scratch:
        counts = os.path.join(scratch, "perf.csv")
        for _ in range(runs):
            for name, argv in commands.items():
                if perf:  # perf's own start-up is in both commands alike
                    argv = ["perf", "stat", "-x,", "-e", "instructions", "-o", counts, "--", *argv]
                before = os.times()
                started = time.perf_counter()
                subprocess.run(
                    argv,
                    check=True,
                    env=env,
                    cwd=cwd,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                wall = time.perf_counter() - started
                after = os.times()
                cpu = (after.children_user - before.children_user) + (
                    after.children_system - before.children_system
                )
                times[name].wall.append(wall)
                times[name].cpu.append(cpu)
                instructions = _instructions(counts) if perf else None
                if instructions is not None:
                    times[name].instructions.append(instructions)
    return {name: value.summary() for name, value in times.items()}


def ratio_lines(base: dict[str, float], other: dict[str, float], unit: float, label: str) -> str:
    """One line per statistic: baseline, other, and other relative to the baseline."""
    lines = []
    for key in ("wall_best", "wall_median", "cpu_best", "cpu_median", "instr_median"):
        if key not in base or key not in other:
            continue
        scale, suffix = (1e-6, "M") if key.startswith("instr") else (unit, "")
        lines.append(
            f"  {key:<12} baseline {base[key] * scale:9.1f}{suffix:1}  {label} "
            f"{other[key] * scale:9.1f}{suffix:1}  -> {100 * (other[key] / base[key] - 1):+6.1f}%"
        )
    return "\n".join(lines)
