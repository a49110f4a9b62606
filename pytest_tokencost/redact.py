"""Secrets out of every text the plugin and the harness print or write.

Error messages quote what they were given: an HTTP error body that echoes the key it received
(``Incorrect API key provided: sk-...``), a URL with ``?key=...`` in it, the command line. Every
such text passes through `redact` before it reaches a terminal or a file. Whole secrets are
replaced with ``[REDACTED]``; no part of a key (no prefix, no last four) is kept, while the
word that says what was there (``Bearer``, ``api_key=``) is, so a reader can still tell which
credential was wrong.

What counts as a secret:

* the value (8 characters or more) of any environment variable whose name looks like a
  credential: ``*API_KEY*``, ``*APIKEY*``, ``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*``;
* ``Bearer <token>`` and the values of ``Authorization``, ``Proxy-Authorization``,
  ``x-api-key``, ``api-key`` and ``x-goog-api-key`` headers;
* key-shaped strings: ``sk-...`` (OpenAI ``sk-proj-``, Anthropic ``sk-ant-``, OpenRouter
  ``sk-or-``), Google ``AIza...``, GitHub ``ghp_``/``github_pat_``, Hugging Face ``hf_``;
* URL query parameters ``key``, ``api_key``, ``apikey``, ``api-key``, ``token``,
  ``access_token``, ``auth``, ``sig``, ``signature``, and the password in ``user:pass@host``;
* ``api_key=...``, ``access_token: ...``, ``client_secret``, ``password`` assignments.

Stdlib only and pytest-free, so every layer (core, harness, CLI) can call it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["REDACTED", "redact", "redact_argv"]

REDACTED = "[REDACTED]"

#: Shorter environment values are left alone: "1", "true", "dev" would redact noise.
MIN_SECRET_LENGTH = 8


def _secret_name(name: str) -> bool:
    # Substring tests, not a regular expression: this runs over the whole environment.
    upper = name.upper()
    return (
        "API_KEY" in upper
        or "APIKEY" in upper
        or upper.endswith("_TOKEN")
        or upper == "TOKEN"
        or "SECRET" in upper
        or "PASSWORD" in upper
        or "PASSWD" in upper
    )


# Order matters: the more specific shapes (a URL parameter, a header) run before the bare key
# shapes, so their label stays and only the value goes; a value already redacted is skipped.
# Each shape comes with the lower-case substrings without which it cannot match: most texts
# hold none of them, and a substring test is much cheaper than a failed regex scan.
_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    # https://user:password@host
    (("@",), re.compile(r"(?<=//)([^/\s:@]+):[^/\s@]+@"), rf"\1:{REDACTED}@"),
    # ?key=..., &access_token=...
    (
        ("=",),
        re.compile(
            r"(?i)([?&;](?:key|api_key|apikey|api-key|token|access_token|auth|sig|signature)=)"
            r"[^&#\s\"'<>]+"
        ),
        rf"\1{REDACTED}",
    ),
    # Authorization: Basic ..., "x-api-key": "...", api-key=...
    (
        ("authorization", "api-key"),
        re.compile(
            r"""(?ix)
            (\b(?:proxy-)?authorization|\bx-api-key|\bx-goog-api-key|(?<![\w-])api-key)
            (["']?\s*[:=]\s*["']?)
            (?:bearer\s+|basic\s+|token\s+)?
            (?!\[REDACTED\])[^\s"',;}&]+
            """
        ),
        rf"\1\2{REDACTED}",
    ),
    (("bearer",), re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=*-]{4,}"), rf"\1 {REDACTED}"),
    # api_key="...", "access_token": "...", client_secret=..., password: ...
    (
        ("key", "token", "secret", "password"),
        re.compile(
            r"""(?ix)
            \b(api_?key|access_token|refresh_token|client_secret|secret_key|password)
            (["']?\s*[:=]\s*["']?)
            (?!\[REDACTED\])[^\s"',;}&]+
            """
        ),
        rf"\1\2{REDACTED}",
    ),
    # Key shapes: OpenAI / Anthropic / OpenRouter, Google, GitHub, Hugging Face.
    (
        ("sk-", "aiza", "gh", "hf_"),
        re.compile(
            r"\bsk-[A-Za-z0-9*_-]{8,}"
            r"|\bAIza[0-9A-Za-z_-]{20,}"
            r"|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"
            r"|\bhf_[A-Za-z0-9]{20,}"
        ),
        REDACTED,
    ),
)


def _env_secrets() -> tuple[str, ...]:
    """Credential-like environment values now, longest first (one may contain another)."""
    # Names first, values only for the few that match: decoding every value costs double.
    found = set()
    for name in os.environ:
        if _secret_name(name):
            value = os.environ.get(name, "")
            if len(value) >= MIN_SECRET_LENGTH:
                found.add(value)
    return tuple(sorted(found, key=lambda v: (-len(v), v)))


@lru_cache(maxsize=8)
def _env_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    # Compiled once per distinct set of values: the environment is read at every call (a
    # test may set a key late), the regular expression is not rebuilt unless it changed.
    if not secrets:
        return None
    return re.compile("|".join(re.escape(secret) for secret in secrets))


def _redact(text: str, env: re.Pattern[str] | None) -> str:
    if not text:
        return text
    if env is not None:
        text = env.sub(REDACTED, text)
    lower = text.lower()
    for triggers, shape, replacement in _PATTERNS:
        if any(trigger in lower for trigger in triggers):
            text = shape.sub(replacement, text)
    return text


def redact(text: str) -> str:
    """`text` with every secret it contains replaced by ``[REDACTED]``.

    Reads the environment at each call (tens of microseconds): meant for error messages,
    warnings and command lines, not for a per-record hot path.
    """
    return _redact(text, _env_pattern(_env_secrets())) if text else text


_SECRET_FLAG = re.compile(
    r"^--?(?:[A-Za-z0-9]+[-_])*(?:key|apikey|token|secret|password)$", re.IGNORECASE
)


def redact_argv(argv: Iterable[str]) -> list[str]:
    """A command line with its secrets redacted, including the value after a secret flag.

    ``--api-key VALUE`` and ``--token VALUE`` lose VALUE whatever it looks like;
    ``--api-key=VALUE`` and every other argument go through `redact`.
    """
    env = _env_pattern(_env_secrets())
    result: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            result.append(REDACTED)
            hide_next = False
            continue
        flag, equals, _ = arg.partition("=")
        if _SECRET_FLAG.match(flag):
            if equals:
                result.append(f"{flag}={REDACTED}")
            else:
                result.append(arg)
                hide_next = True
            continue
        result.append(_redact(arg, env))
    return result
