"""Transcript parse throughput: `read_transcripts` on a large Claude Code transcript (tens of
MB, made by repeating the corpus lines with fresh message and request ids) in MB/s, against
`json.loads` of the same lines, in the same run.

    python benchmarks/bench_transcripts.py [--mb 30] [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pytest_tokencost.transcripts import read_transcripts

HERE = Path(__file__).resolve().parent


def build(corpus: Path, target: Path, megabytes: float) -> int:
    """Write a transcript of about `megabytes` MB; return the number of unique responses."""
    lines = []
    for source in sorted((corpus / "claude-code").glob("*.jsonl")):
        lines += [line for line in source.read_text().splitlines() if line.strip()]
    responses = 0
    size = 0
    with target.open("w", encoding="utf-8") as out:
        copy = 0
        while size < megabytes * 1_000_000:
            copy += 1
            for line in lines:
                entry = json.loads(line)
                message = entry.get("message")
                if isinstance(message, dict) and "id" in message:
                    message["id"] = f"{message['id']}-{copy}"
                if "requestId" in entry:
                    entry["requestId"] = f"{entry['requestId']}-{copy}"
                text = json.dumps(entry) + "\n"
                out.write(text)
                size += len(text.encode())
        responses = copy
    return responses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=30.0)
    parser.add_argument("--corpus", type=Path, default=HERE.parents[1] / "shared" / "corpus")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big-session.jsonl"
        copies = build(args.corpus, path, args.mb)
        megabytes = path.stat().st_size / 1_000_000
        started = time.perf_counter()
        for line in path.open(encoding="utf-8"):
            json.loads(line)
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        transcripts = read_transcripts([path])
        ours = time.perf_counter() - started
    print(
        f"{megabytes:.1f} MB transcript ({copies} copies of the corpus lines, "
        f"{len(transcripts.responses):,} unique responses):"
    )
    print(f"  json.loads of every line: {megabytes / baseline:7.1f} MB/s  (baseline)")
    print(
        f"  read_transcripts:         {megabytes / ours:7.1f} MB/s  = "
        f"{baseline / ours:.2f}x the baseline's throughput"
    )


if __name__ == "__main__":
    main()
