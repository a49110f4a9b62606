"""Token counting: exact (tiktoken with the vocabularies shipped in this package) or estimated.

Nothing here touches the network. The BPE rank files in `vocab/` are the ones tiktoken would
download; they are verified against a pinned sha256 when loaded, then handed to tiktoken's own
encoding constructors so pattern strings and special tokens are exactly the installed tiktoken's.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .errors import VocabularyError
from .records import Provenance, Usage

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "ExactCounter",
    "HeuristicCounter",
    "TextCount",
    "TokenCounter",
    "count_messages",
    "count_tokens",
    "count_usage",
    "counter_for",
    "encoding_name_for",
    "load_encoding",
    "vocabulary_ready",
]

#: sha256 of each decompressed rank file (the same as tiktoken's `expected_hash`).
VOCAB_SHA256: Mapping[str, str] = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# Longest prefix wins. Dated snapshots ("gpt-4o-2024-08-06") and provider prefixes
# ("openai/gpt-4o") resolve through the prefix match below.
_ENCODING_BY_PREFIX: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("codex-", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-oss", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
)
_ENCODING_BY_PREFIX = tuple(sorted(_ENCODING_BY_PREFIX, key=lambda p: -len(p[0])))

_load_lock = threading.Lock()
#: Encodings `load_encoding` has built in this process (its cache cannot be asked).
_loaded: set[str] = set()


def encoding_name_for(model: str | None) -> str | None:
    """The tiktoken encoding of an OpenAI model, or `None` if it has no public tokenizer."""
    if not model:
        return None
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, encoding in _ENCODING_BY_PREFIX:
        if name.startswith(prefix):
            return encoding
    return None


def _read_shipped_ranks(encoding_name: str) -> bytes:
    expected = VOCAB_SHA256[encoding_name]
    resource = resources.files(__package__) / "vocab" / f"{encoding_name}.tiktoken.gz"
    try:
        data = gzip.decompress(resource.read_bytes())
    except (OSError, EOFError) as exc:
        raise VocabularyError(
            f"cannot read the shipped vocabulary {resource}: {exc}; reinstall pytest-tokencost"
        ) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise VocabularyError(
            f"vocabulary {resource} has sha256 {actual}, expected {expected}; the file is "
            "damaged: reinstall pytest-tokencost"
        )
    return data


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@cache
def load_encoding(encoding_name: str) -> tiktoken.Encoding:
    """Build a `tiktoken.Encoding` from the shipped vocabulary, offline, once per process."""
    if encoding_name not in VOCAB_SHA256:
        raise VocabularyError(
            f"no shipped vocabulary for encoding {encoding_name!r}; "
            f"available: {', '.join(sorted(VOCAB_SHA256))}"
        )
    import tiktoken
    from tiktoken_ext import openai_public

    def load_shipped(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        if expected_hash is not None and expected_hash != VOCAB_SHA256[encoding_name]:
            raise VocabularyError(
                f"the installed tiktoken expects {encoding_name} with sha256 {expected_hash}, "
                f"but this package ships {VOCAB_SHA256[encoding_name]}; upgrade pytest-tokencost"
            )
        return _parse_ranks(_read_shipped_ranks(encoding_name))

    # tiktoken's constructor holds the authoritative pattern string and special tokens; only
    # its loader would reach for the network, so it is swapped for the shipped file meanwhile.
    with _load_lock:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = load_shipped
        try:
            spec: dict[str, Any] = openai_public.ENCODING_CONSTRUCTORS[encoding_name]()
        finally:
            openai_public.load_tiktoken_bpe = original
    encoding = tiktoken.Encoding(**spec)
    _loaded.add(encoding_name)
    return encoding


def vocabulary_ready(model: str | None) -> bool:
    """Whether counting for `model` needs no file read: the bytes/4 estimate, or a vocabulary
    already loaded. Callers inside an event loop use it to keep file reads out of the loop."""
    encoding = encoding_name_for(model)
    return encoding is None or encoding in _loaded


class TokenCounter(Protocol):
    """Counts the tokens of a text and says how trustworthy the count is."""

    provenance: Provenance

    def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        ...


class ExactCounter:
    """The model's own tokenizer: counts are `counted`."""

    provenance = Provenance.COUNTED

    def __init__(self, encoding_name: str) -> None:
        self.encoding_name = encoding_name
        self._encode = load_encoding(encoding_name).encode_ordinary

    def count(self, text: str) -> int:
        """Exact token count (special-token text is counted as ordinary text)."""
        return len(self._encode(text))


class HeuristicCounter:
    """The old contract's stub estimator: UTF-8 bytes / 4, rounded up. Counts are `estimated`."""

    provenance = Provenance.ESTIMATED

    def count(self, text: str) -> int:
        """Estimated token count: ceil(len(utf8) / 4)."""
        return (len(text.encode("utf-8")) + 3) // 4


@lru_cache(maxsize=256)
def counter_for(model: str | None) -> ExactCounter | HeuristicCounter:
    """The best counter for a model: exact for OpenAI models, the bytes/4 estimate otherwise."""
    encoding = encoding_name_for(model)
    return HeuristicCounter() if encoding is None else ExactCounter(encoding)


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens in `text` for `model` (exact where the model's tokenizer is public).

    Use `counter_for(model).provenance` to learn whether the figure is `counted` or `estimated`.
    """
    return counter_for(model).count(text)


class TextCount(NamedTuple):
    """What `count_usage` found: the usage, the texts' UTF-8 sizes (None for a text not given)
    and how trustworthy the counts are."""

    usage: Usage
    prompt_bytes: int | None
    artifact_bytes: int | None
    provenance: Provenance


def count_usage(
    model: str | None,
    prompt: str | None,
    artifact: str | None,
    *,
    counter: TokenCounter | None = None,
    caller: str = "record()",
) -> TextCount:
    """The one text-to-`Usage` counter: a prompt's tokens as input, an artifact's as output.

    Counted with `counter`, else the model's (`counter_for`: exact for OpenAI models, the
    bytes/4 estimate otherwise). A text not given counts 0 and has no size; giving neither,
    or something that is not a str, is a TypeError that names `caller`.
    """
    if prompt is None and artifact is None:
        raise TypeError(f"{caller} needs usage=Usage(...) or prompt=/artifact= texts")
    counter = counter if counter is not None else counter_for(model)
    counts = [0, 0]
    sizes: list[int | None] = [None, None]
    for index, (label, text) in enumerate((("prompt", prompt), ("artifact", artifact))):
        if text is None:
            continue
        if not isinstance(text, str):
            raise TypeError(f"{caller}: {label} must be a str, got {type(text).__name__}")
        counts[index] = counter.count(text)
        sizes[index] = len(text.encode("utf-8"))
    # Two non-negative ints and no parts: nothing for the model's validation to find (this runs
    # on the hot path of record()).
    usage = Usage.model_construct(
        input=counts[0], output=counts[1], cache_read=None, cache_write=None, reasoning=None
    )
    return TextCount(usage, sizes[0], sizes[1], counter.provenance)


# OpenAI's published accounting for chat input: every message is wrapped in 3 tokens
# (<|start|>{role}<|message|>...<|end|>), a name costs 1 more, and the reply is primed with 3.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3


def _message_text(content: Any) -> Iterable[str]:
    if content is None:
        return
    if isinstance(content, str):
        yield content
        return
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                yield part["text"]
            else:
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                raise TypeError(
                    f"cannot count a message content part of type {kind!r}: only text parts "
                    "({'type': 'text', 'text': ...}) can be counted offline"
                )
        return
    raise TypeError(f"cannot count message content of type {type(content).__name__}")


def count_messages(messages: Iterable[Mapping[str, Any]], model: str | None = None) -> int:
    """Input tokens of a chat request: message texts plus the chat format's overhead.

    Follows OpenAI's published recipe (3 tokens per message, 1 per `name`, 3 to prime the
    reply). For models without a public tokenizer the result is an estimate.
    """
    counter = counter_for(model)
    total = _REPLY_PRIMING
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(
                f"message {index} is a {type(message).__name__}; expected a mapping with "
                "'role' and 'content'"
            )
        total += _TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "content":
                total += sum(counter.count(text) for text in _message_text(value))
            elif isinstance(value, str):
                total += counter.count(value)
                if key == "name":
                    total += _TOKENS_PER_NAME
    return total
