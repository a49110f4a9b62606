"""(b) `count_tokens` on 2 KB and 200 KB texts, against raw tiktoken `encode_ordinary`.

python benchmarks/bench_counting.py
"""

from __future__ import annotations

import random

from _timing import interleaved_per_call

from pytest_tokencost import count_tokens
from pytest_tokencost.counting import load_encoding

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "refund",
    "invoice",
    "duplicate",
    "charge",
    "pytest",
    "token",
    "cost",
    "calibration",
    "agent",
    "triage",
    "recall",
    "investigate",
    "report",
    "résumé",
    "naïve",
    "東京",
    "🚀",
    "def",
    "return",
    "class",
    "import",
    "404",
    "3.14",
    "2026-11-22",
    "https://example.com/a?b=c",
]


def make_text(size: int, seed: int) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        sep = rng.choice([" ", " ", " ", "\n", ", ", ". "])
        parts.append(word + sep)
        length += len((word + sep).encode())
    return "".join(parts)


def main() -> None:
    encode = load_encoding("o200k_base").encode_ordinary  # cached encoding, as a user would
    count_tokens("warm up", "gpt-4o")
    for label, size, number in (("2 KB", 2_000, 500), ("200 KB", 200_000, 5)):
        text = make_text(size, seed=size)
        assert count_tokens(text, "gpt-4o") == len(encode(text))
        best = interleaved_per_call(
            {
                "raw": lambda: len(encode(text)),  # noqa: B023
                "ours": lambda: count_tokens(text, "gpt-4o"),  # noqa: B023
            },
            number,
        )
        raw, ours = best["raw"], best["ours"]
        print(
            f"{label:>6}: raw encode_ordinary {raw * 1e6:9.1f} us, count_tokens "
            f"{ours * 1e6:9.1f} us -> throughput {raw / ours:.3f}x raw (target >= 0.9x)"
        )


if __name__ == "__main__":
    main()
