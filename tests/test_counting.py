"""Exact offline counting against tiktoken's own encodings, with the network unavailable."""

from __future__ import annotations

import gzip
import hashlib
import socket
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import tiktoken

from pytest_tokencost import Provenance, count_messages, count_tokens, counting
from pytest_tokencost.counting import (
    VOCAB_SHA256,
    HeuristicCounter,
    counter_for,
    encoding_name_for,
    load_encoding,
)
from pytest_tokencost.errors import VocabularyError

TEXTS = [
    "",
    "hello world",
    "Hello, World! It's 2026 and we're testing tokenizers' edge-cases.",
    "def add(a: int, b: int) -> int:\n    return a + b\n\n\nprint(add(40, 2))\n",
    "Ünïcödé çàñ ßé hàrd — naïve café 🍕🚀 emoji 👩‍👩‍👧 families",
    "日本語のテキストとトークン化。中文文本。한국어 텍스트.",
    "مرحبا بالعالم. שלום עולם. नमस्ते दुनिया",
    "   leading and trailing whitespace \t\n\r\n   ",
    "numbers 1234567890 3.14159 -42 1e10 0xFF 1,000,000",
    "<|endoftext|> special tokens are plain text here <|fim_prefix|><|endofprompt|>",
    '{"json": [1, 2, {"nested": true}], "url": "https://example.com/a?b=c&d=e"}',
    "a" * 5000,
    "word " * 2000,
    "\n".join(f"line {i}: the quick brown fox jumps over the lazy dog" for i in range(300)),
]

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def tiktoken_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> Iterator[dict[str, tiktoken.Encoding]]:
    """tiktoken's own encodings, built by tiktoken from a cache seeded with the vocab files.

    tiktoken verifies its own expected hash when it reads its cache, so this reference owes
    nothing to pytest-tokencost's loader.
    """
    for name in VOCAB_SHA256:
        data = gzip.decompress(
            (resources.files("pytest_tokencost") / "vocab" / f"{name}.tiktoken.gz").read_bytes()
        )
        key = hashlib.sha1(_BLOB.format(name).encode()).hexdigest()
        (tmp_path / key).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    from tiktoken import registry

    monkeypatch.setattr(registry, "ENCODINGS", {})
    yield {name: tiktoken.get_encoding(name) for name in VOCAB_SHA256}


@pytest.mark.parametrize(
    ("model", "encoding"), [("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")]
)
def test_counts_equal_tiktoken_encode_ordinary(
    tiktoken_reference: dict[str, tiktoken.Encoding], model: str, encoding: str
) -> None:
    reference = tiktoken_reference[encoding]
    for text in TEXTS:
        assert count_tokens(text, model) == len(reference.encode_ordinary(text)), text[:40]


def test_loading_needs_no_network(no_network: None) -> None:
    load_encoding.cache_clear()
    try:
        counter_for.cache_clear()
        assert count_tokens("offline counting", "gpt-4o") == 2
        assert load_encoding("cl100k_base").name == "cl100k_base"
    finally:
        load_encoding.cache_clear()
        counter_for.cache_clear()


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("openai/gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o1-preview", "o200k_base"),
        ("o3-mini-2025-01-31", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("claude-sonnet-4-20250514", None),
        ("gemini-2.5-pro", None),
        (None, None),
    ],
)
def test_model_to_encoding(model: str | None, encoding: str | None) -> None:
    assert encoding_name_for(model) == encoding


def test_models_without_public_tokenizer_are_estimated_at_bytes_over_four() -> None:
    counter = counter_for("claude-sonnet-4")
    assert counter.provenance is Provenance.ESTIMATED
    assert count_tokens("abcdefgh", "claude-sonnet-4") == 2
    assert count_tokens("abcdefghi", None) == 3  # rounded up
    assert count_tokens("é", None) == 1  # bytes, not characters
    assert HeuristicCounter().count("") == 0
    assert counter_for("gpt-4o").provenance is Provenance.COUNTED


def test_count_messages_follows_openai_chat_overhead() -> None:
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "name": "dana", "content": "Refund my duplicate charge, please."},
    ]
    enc = load_encoding("o200k_base")
    expected = 3  # reply priming
    for message in messages:
        expected += 3 + sum(len(enc.encode_ordinary(v)) for v in message.values())
    expected += 1  # the name
    assert count_messages(messages, "gpt-4o") == expected


def test_count_messages_reads_text_parts_and_rejects_others() -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}]
    assert count_messages(parts, "gpt-4o") == count_messages(
        [{"role": "user", "content": "hi there"}], "gpt-4o"
    )
    with pytest.raises(TypeError, match="image_url"):
        count_messages(
            [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], "gpt-4o"
        )
    with pytest.raises(TypeError, match="message 0 is a str"):
        count_messages(["hello"], "gpt-4o")  # type: ignore[list-item]


def test_a_damaged_vocabulary_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(counting.VOCAB_SHA256, "cl100k_base", "0" * 64)
    load_encoding.cache_clear()
    try:
        with pytest.raises(VocabularyError, match="upgrade pytest-tokencost"):
            load_encoding("cl100k_base")
    finally:
        load_encoding.cache_clear()


def test_a_corrupted_vocabulary_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counting.gzip, "decompress", lambda data: b"tampered 0\n")
    with pytest.raises(VocabularyError, match="damaged: reinstall pytest-tokencost"):
        counting._read_shipped_ranks("o200k_base")


def test_unknown_encoding_is_an_error() -> None:
    with pytest.raises(VocabularyError, match="available: cl100k_base, o200k_base"):
        load_encoding("p50k_base")
