"""Pricing throughput, each figure a ratio against a baseline measured in the same run.

1. `Pricer.price` per record vs `genai_prices.calc_price` per record, on the same 2,000 random
   requests (claude-sonnet-4-5 with its >200k tier, gpt-5, gemini-2.5-pro; 1-hour cache
   writes, web searches), batches interleaved.
2. `tokencost ingest` on about 20 MB of Claude Code transcripts (the corpus lines repeated
   with fresh message and request ids) vs a `python -c` that `json.loads` every line of the
   same file: both are subprocesses, interpreter start-up included, runs interleaved, after
   one untimed run of each (which writes the output folder's price cache, as any earlier
   ingest into it has). Python's bytecode is cached (in a temporary `PYTHONPYCACHEPREFIX`),
   as it is for an installed package, even where PYTHONDONTWRITEBYTECODE is set: without it
   every run compiles this package's modules from source. `--no-bytecode` measures that too.

    python benchmarks/bench_pricing.py [--mb 20] [--runs 5] [--corpus ../shared/corpus]
                                       [--no-bytecode]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import genai_prices
from _timing import command_times, interleaved_per_call, ratio_lines
from bench_transcripts import build

from pytest_tokencost import Usage
from pytest_tokencost.genai_table import genai_usage_counts
from pytest_tokencost.pricing import Pricer

HERE = Path(__file__).resolve().parent
MODELS = [("claude-sonnet-4-5", "anthropic"), ("gpt-5", "openai"), ("gemini-2.5-pro", "google")]


def _requests(count: int) -> list[tuple[str, str, Usage, datetime]]:
    rng = random.Random(7)
    requests = []
    for _ in range(count):
        model, provider = rng.choice(MODELS)
        size = rng.choice([rng.randint(1_000, 60_000), rng.randint(150_000, 400_000)])
        read = rng.randint(0, size // 2)
        written = rng.randint(0, size - read)
        usage = Usage(
            input=size,
            output=rng.randint(10, 8_000),
            cache_read=read,
            cache_write=written,
            cache_write_1h=rng.randint(0, written),
            web_searches=rng.choice([0, 0, 1, 2]),
        )
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 200_000))
        requests.append((model, provider, usage, when))
    return requests


def pricing() -> None:
    requests = _requests(2_000)
    pricer = Pricer()
    genai = [
        (genai_prices.Usage(**genai_usage_counts(usage)), model, provider, when)
        for model, provider, usage, when in requests
    ]

    def ours() -> None:
        for model, provider, usage, when in requests:
            pricer.price(model, provider, usage, when)

    def baseline() -> None:
        for usage, model, provider, when in genai:
            genai_prices.calc_price(
                usage, model, provider_id=provider, genai_request_timestamp=when
            )

    ours()  # resolve and compile the three models first; calc_price warms its caches too
    baseline()
    best = interleaved_per_call({"calc_price": baseline, "Pricer.price": ours}, number=1, rounds=9)
    base = best["calc_price"] / len(requests)
    mine = best["Pricer.price"] / len(requests)
    print(f"pricing per record ({len(requests):,} requests, best of 9 interleaved rounds):")
    print(f"  genai_prices.calc_price: {base * 1e6:8.2f} µs  (baseline)")
    print(f"  Pricer.price:            {mine * 1e6:8.2f} µs  = {base / mine:.1f}x faster")


def _environment(folder: str, bytecode: bool) -> dict[str, str]:
    env = dict(os.environ)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def ingest(corpus: Path, megabytes: float, runs: int, bytecode: bool = True) -> None:
    tokencost = shutil.which("tokencost") or str(Path(sys.executable).with_name("tokencost"))
    loads = "import json, sys\nfor line in open(sys.argv[1], encoding='utf-8'): json.loads(line)"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big-session.jsonl"
        build(corpus, path, megabytes)
        small = corpus / "claude-code" / "spotter__short.jsonl"  # 15 lines: start-up alone
        size = path.stat().st_size / 1_000_000
        out = str(Path(folder) / "out")
        commands = {
            "json.loads": [sys.executable, "-c", loads, str(path)],
            "ingest": [tokencost, "ingest", str(path), "--out", out],
            "json.loads small": [sys.executable, "-c", loads, str(small)],
            "ingest small": [tokencost, "ingest", str(small), "--out", out],
        }
        env = _environment(folder, bytecode)
        command_times(commands, runs=1, env=env)  # untimed: bytecode and price cache written
        times = command_times(commands, runs=runs, env=env)
    print(f"\ntokencost ingest of a {size:.1f} MB transcript vs json.loads of its lines")
    cached = "bytecode cached" if bytecode else "no bytecode cache: modules compiled every run"
    print(
        f"(both subprocesses, interpreter start-up included, {runs} interleaved runs after a "
        f"warm-up, {cached}, load average {os.getloadavg()[0]:.1f}, ms):"
    )
    print(ratio_lines(times["json.loads"], times["ingest"], 1000.0, "ingest"))
    wall = {name: value["wall_median"] for name, value in times.items()}
    print(
        f"  ingest / json.loads, wall medians: {wall['ingest'] / wall['json.loads']:.2f}x "
        "(target: within 2x)"
    )
    print(
        f"  start-up alone (a 15-line file): ingest {wall['ingest small'] * 1000:.0f} ms, "
        f"python + json {wall['json.loads small'] * 1000:.0f} ms"
    )
    ours = wall["ingest"] - wall["ingest small"]
    theirs = wall["json.loads"] - wall["json.loads small"]
    print(
        f"  beyond start-up: ingest {size / ours:.0f} MB/s, json.loads {size / theirs:.0f} MB/s "
        f"({theirs / ours:.2f}x json.loads' throughput)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=HERE.parents[1] / "shared" / "corpus")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="also measure ingest with no bytecode cache (every module compiled every run)",
    )
    parser.add_argument("--ingest-only", action="store_true", help="skip the pricing figure")
    args = parser.parse_args()
    if not args.ingest_only:
        pricing()
    ingest(args.corpus, args.mb, args.runs)
    if args.no_bytecode:
        ingest(args.corpus, args.mb, args.runs, bytecode=False)


if __name__ == "__main__":
    main()
